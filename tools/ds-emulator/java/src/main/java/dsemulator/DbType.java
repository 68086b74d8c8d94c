package dsemulator;

/** Datasource types with DS's int codes (subset). */
public enum DbType {
    MYSQL(0, "mysql"), POSTGRESQL(1, "postgresql"), HIVE(2, "hive"), SPARK(3, "spark"), CLICKHOUSE(4, "clickhouse"),
    ORACLE(5, "oracle"), SQLSERVER(6, "sqlserver"), DB2(7, "db2"), PRESTO(8, "presto"), H2(9, "h2"),
    REDSHIFT(10, "redshift"), ATHENA(11, "athena"), TRINO(12, "trino"), STARROCKS(13, "starrocks"),
    DORIS(14, "doris");

    private final int code;
    private final String descp;

    DbType(int code, String descp) {
        this.code = code;
        this.descp = descp;
    }

    public int getCode() { return code; }
    public String getDescp() { return descp; }
}
