package dsemulator;

import java.util.Map;

/** The subset of DS's DataSource entity that gateway clients read through getters. */
public class DataSource {
    private final Integer id;
    private final String name;
    private final DbType type;
    private final String connectionParams;

    DataSource(Map<String, Object> m) {
        this.id = ((Number) m.get("id")).intValue();
        this.name = (String) m.get("name");
        this.type = DbType.valueOf(((String) m.get("type")).toUpperCase());
        this.connectionParams = (String) m.get("connectionParams");
    }

    public Integer getId() { return id; }
    public String getName() { return name; }
    public DbType getType() { return type; }
    public String getConnectionParams() { return connectionParams; }
}
