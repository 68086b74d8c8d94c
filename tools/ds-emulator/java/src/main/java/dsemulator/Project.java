package dsemulator;

import java.util.Map;

/** The subset of DS's Project entity that gateway clients read through getters. */
public class Project {
    private final Integer id;
    private final Long code;
    private final String name;
    private final String description;
    private final Integer userId;
    private final String userName;

    Project(Map<String, Object> m) {
        this.id = m.get("id") == null ? null : ((Number) m.get("id")).intValue();
        this.code = m.get("code") == null ? null : ((Number) m.get("code")).longValue();
        this.name = (String) m.get("name");
        this.description = (String) m.get("description");
        this.userId = m.get("userId") == null ? null : ((Number) m.get("userId")).intValue();
        this.userName = (String) m.get("userName");
    }

    public Integer getId() { return id; }
    public Long getCode() { return code; }
    public String getName() { return name; }
    public String getDescription() { return description; }
    public Integer getUserId() { return userId; }
    public String getUserName() { return userName; }

    @Override
    public String toString() {
        return "Project{code=" + code + ", name=" + name + "}";
    }
}
