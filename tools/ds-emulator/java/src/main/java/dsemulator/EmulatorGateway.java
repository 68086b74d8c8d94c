package dsemulator;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.text.MessageFormat;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import py4j.GatewayServer;

/**
 * Entry point with the method names and Java signatures of DolphinScheduler's PythonGateway (3.3+).
 * Each call is forwarded as {"args": [...]} to POST {callback}/_gateway/{method} on the Python emulator, which
 * answers {"ok": true, "result": ...} or {"ok": false, "error": "..."}; errors are thrown as ServiceException so the
 * py4j client sees a Py4JJavaError carrying DS's message.
 *
 * Usage: java -cp ... dsemulator.EmulatorGateway CALLBACK_URL [PORT]
 * The auth token is read from the environment variable DS_EMULATOR_GATEWAY_AUTH_TOKEN (empty = no auth).
 * Prints "GATEWAY_PORT=<port>" once listening, and exits when its standard input closes.
 */
public class EmulatorGateway {
    /** The most codes one genTaskCodeList call gives (DS 3.4.2). */
    static final int MAX_GEN_TASK_CODES = 100;

    /** The two DS Status constants genTaskCodeList answers with (codes and templates as DS 3.4.2's). */
    public enum Status {
        SUCCESS(0, "success"),
        DATA_IS_NOT_VALID(50017, "data {0} not valid");

        final int code;
        final String template;

        Status(int code, String template) {
            this.code = code;
            this.template = template;
        }

        public int getCode() {
            return code;
        }
    }

    private final ObjectMapper mapper = new ObjectMapper().enable(DeserializationFeature.USE_LONG_FOR_INTS);
    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(5)).build();
    private final String callback;

    EmulatorGateway(String callback) {
        this.callback = callback.endsWith("/") ? callback.substring(0, callback.length() - 1) : callback;
    }

    @SuppressWarnings("unchecked")
    private Object forward(String method, Object... args) {
        try {
            Map<String, Object> body = new HashMap<>();
            body.put("args", Arrays.asList(args));
            HttpRequest request = HttpRequest.newBuilder(URI.create(callback + "/_gateway/" + method))
                    .timeout(Duration.ofSeconds(120))
                    .header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofByteArray(mapper.writeValueAsBytes(body)))
                    .build();
            HttpResponse<byte[]> response = http.send(request, HttpResponse.BodyHandlers.ofByteArray());
            Map<String, Object> answer = mapper.readValue(response.body(), Map.class);
            if (Boolean.TRUE.equals(answer.get("ok"))) {
                return answer.get("result");
            }
            throw new ServiceException(String.valueOf(answer.get("error")));
        } catch (IOException e) {
            throw new IllegalStateException("emulator callback failed: " + e, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }

    private static Long toLong(Object value) {
        return value == null ? null : ((Number) value).longValue();
    }

    @SuppressWarnings("unchecked")
    private static Object toJava(Object value) {
        if (value instanceof Map) {
            HashMap<String, Object> out = new HashMap<>();
            ((Map<String, Object>) value).forEach((k, v) -> out.put(k, toJava(v)));
            return out;
        }
        if (value instanceof List) {
            ArrayList<Object> out = new ArrayList<>();
            for (Object v : (List<Object>) value) {
                out.add(toJava(v));
            }
            return out;
        }
        if (value instanceof Integer) {
            return ((Integer) value).longValue();
        }
        return value;
    }

    public String ping() {
        return (String) forward("ping");
    }

    public String getGatewayVersion() {
        return (String) forward("getGatewayVersion");
    }

    /**
     * As DS 3.4.2: 1 to 100 codes; otherwise no call at all and {status: DATA_IS_NOT_VALID, msg: "data N not valid"}
     * (the message formatted by MessageFormat, as DS's ServiceException does). The status is a Java enum, as DS's.
     */
    @SuppressWarnings("unchecked")
    public Map<String, Object> genTaskCodeList(Integer genNum) {
        if (genNum == null || genNum < 1 || genNum > MAX_GEN_TASK_CODES) {
            HashMap<String, Object> refused = new HashMap<>();
            refused.put("status", Status.DATA_IS_NOT_VALID);
            refused.put("msg", MessageFormat.format(Status.DATA_IS_NOT_VALID.template, genNum));
            return refused;
        }
        Map<String, Object> answer = (Map<String, Object>) toJava(forward("genTaskCodeList", genNum));
        answer.put("status", Status.valueOf(String.valueOf(answer.get("status"))));
        return answer;
    }

    @SuppressWarnings("unchecked")
    public Map<String, Long> getCodeAndVersion(String projectName, String workflowDefinitionName, String taskName) {
        Map<String, Object> raw = (Map<String, Object>) forward("getCodeAndVersion", projectName,
                workflowDefinitionName, taskName);
        HashMap<String, Long> out = new HashMap<>();
        raw.forEach((k, v) -> out.put(k, toLong(v)));
        return out;
    }

    public Long createOrUpdateWorkflow(String userName, String projectName, String name, String description,
            String globalParams, String schedule, boolean onlineSchedule, String warningType, int warningGroupId,
            int timeout, String workerGroup, int releaseState, String taskRelationJson, String taskDefinitionJson,
            String otherParamsJson, String executionType) {
        return toLong(forward("createOrUpdateWorkflow", userName, projectName, name, description, globalParams,
                schedule, onlineSchedule, warningType, warningGroupId, timeout, workerGroup, releaseState,
                taskRelationJson, taskDefinitionJson, otherParamsJson, executionType));
    }

    public void createOrGrantProject(String userName, String name, String desc) {
        forward("createOrGrantProject", userName, name, desc);
    }

    @SuppressWarnings("unchecked")
    public Project queryProjectByName(String userName, String projectName) {
        Object raw = forward("queryProjectByName", userName, projectName);
        return raw == null ? null : new Project((Map<String, Object>) raw);
    }

    @SuppressWarnings("unchecked")
    public DataSource getDatasource(String name, String type) {
        Object raw = forward("getDatasource", name, type);
        return raw == null ? null : new DataSource((Map<String, Object>) raw);
    }

    public void execWorkflowInstance(String userName, String projectName, String workflowName, String workerGroup,
            String warningType, Integer warningGroupId) {
        forward("execWorkflowInstance", userName, projectName, workflowName, workerGroup, warningType,
                warningGroupId);
    }

    @SuppressWarnings("unchecked")
    public Map<String, Object> getDependentInfo(String projectName, String workflowName, String taskName) {
        return (Map<String, Object>) toJava(forward("getDependentInfo", projectName, workflowName, taskName));
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 1) {
            System.err.println("usage: EmulatorGateway CALLBACK_URL [PORT]");
            System.exit(2);
        }
        int port = args.length > 1 ? Integer.parseInt(args[1]) : 0;
        String token = System.getenv().getOrDefault("DS_EMULATOR_GATEWAY_AUTH_TOKEN", "");
        GatewayServer.GatewayServerBuilder builder = new GatewayServer.GatewayServerBuilder()
                .entryPoint(new EmulatorGateway(args[0]))
                .javaAddress(InetAddress.getLoopbackAddress())
                .javaPort(port);
        if (!token.isEmpty()) {
            builder = builder.authToken(token);
        }
        GatewayServer server = builder.build();
        server.start(true);
        System.out.println("GATEWAY_PORT=" + server.getListeningPort());
        System.out.flush();
        InputStream in = System.in;
        byte[] buffer = new byte[256];
        while (in.read(buffer) >= 0) {
            // keep running until the parent closes our stdin
        }
        server.shutdown();
        System.exit(0);
    }
}
