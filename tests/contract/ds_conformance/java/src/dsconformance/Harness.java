package dsconformance;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.databind.DeserializationContext;
import com.fasterxml.jackson.databind.JavaType;
import com.fasterxml.jackson.databind.JsonDeserializer;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.deser.DeserializationProblemHandler;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Enumeration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;
import org.apache.dolphinscheduler.common.utils.JSONUtils;

/**
 * Reads facts from DolphinScheduler's released jars for the conformance tests (tests/contract/ds_conformance).
 *
 * <p>Usage: {@code java -cp <harness>:<DS jars>:<third-party jars> dsconformance.Harness REQUEST.json OUT.json}.
 * The request names the jars and what to read; the answer holds, per section:
 * <ul>
 *   <li>{@code controllers}: every request mapping of every controller in the api jar (HTTP method, full path,
 *       {@code @ResponseStatus}, {@code @ApiException} status, parameters with source, name, required, default),
 *       read from the compiled annotations without loading the classes;</li>
 *   <li>{@code gateway}: the public methods of {@code PythonGateway} (name, parameter types and names, return type);
 *       {@code classFiles}: the same for other compiled classes named in the request (the emulator's gateway);</li>
 *   <li>{@code status}: the {@code Status} enum (name, code, English message);</li>
 *   <li>{@code enums}: name, ordinal and {@code code} field of each requested enum;</li>
 *   <li>{@code references}: for each requested class of a module Maven Central does not serve, every field and method
 *       the DS jars use of it, and whether the class the harness supplies in its place (if any) has it;
 *       {@code masterReferences}: the same for the classes named in {@code masterReferences}, read from the
 *       {@code masterJars} (the master jar, where Maven Central serves it; null without one);</li>
 *   <li>{@code json}: each requested document read by DS's own {@code JSONUtils} into the named entity class
 *       (properties the class does not know are listed) and written back by {@code JSONUtils}.</li>
 * </ul>
 */
public final class Harness {

    private static final ObjectMapper OUT = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    /** Spring's ValueConstants.DEFAULT_NONE: "no default value" in {@code @RequestParam(defaultValue=...)}. */
    private static final String DEFAULT_NONE = "\n\t\t\n\t\t\n\uE000\uE001\uE002\n\t\t\t\t\n";

    private static final String WEB = "org.springframework.web.bind.annotation.";

    private Harness() {}

    public static void main(String[] args) throws Exception {
        if (args.length != 2) {
            System.err.println("usage: Harness REQUEST.json OUT.json");
            System.exit(2);
        }
        JsonNode request = OUT.readTree(Path.of(args[0]).toFile());
        Map<String, Object> answer = new LinkedHashMap<>();
        List<JarFile> jars = new ArrayList<>();
        for (JsonNode jar : request.get("jars")) {
            jars.add(new JarFile(jar.asText()));
        }
        answer.put("controllers", controllers(jars.get(0), request.get("controllerPackage").asText()));
        answer.put("gateway", publicMethods(classFile(jars, request.get("gateway").asText())));
        Map<String, Object> classFiles = new LinkedHashMap<>();
        request.path("classFiles").fields().forEachRemaining(e -> {
            try {
                classFiles.put(e.getKey(), publicMethods(new ClassFile(Files.readAllBytes(Path.of(e.getValue().asText())))));
            } catch (IOException ex) {
                throw new IllegalStateException("cannot read " + e.getValue().asText(), ex);
            }
        });
        answer.put("classFiles", classFiles);
        answer.put("status", status(request.get("status").asText()));
        Map<String, Object> enums = new LinkedHashMap<>();
        for (JsonNode name : request.get("enums")) {
            enums.put(name.asText(), enumConstants(name.asText()));
        }
        answer.put("enums", enums);
        answer.put("references", references(jars, request.get("references")));
        // the same, from the master jar alone (the DEPENDENT task's runtime), when the request names one
        List<JarFile> masterJars = new ArrayList<>();
        for (JsonNode jar : request.path("masterJars")) {
            masterJars.add(new JarFile(jar.asText()));
        }
        answer.put("masterReferences", masterJars.isEmpty() ? null : references(masterJars, request.get("masterReferences")));
        List<Object> json = new ArrayList<>();
        for (JsonNode document : request.get("json")) {
            json.add(readAndWrite(document));
        }
        answer.put("json", json);
        OUT.writeValue(Path.of(args[1]).toFile(), answer);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Controllers

    static List<Object> controllers(JarFile api, String packagePath) throws IOException {
        List<Object> out = new ArrayList<>();
        for (ClassFile cls : classes(api, packagePath)) {
            if (cls.annotation(WEB + "RestController") == null && cls.annotation("org.springframework.stereotype.Controller") == null) {
                continue;
            }
            List<String> bases = strings(cls.annotation(WEB + "RequestMapping"), List.of(""));
            for (ClassFile.Method method : cls.methods) {
                Mapping mapping = mapping(method);
                if (mapping == null) {
                    continue;
                }
                Map<String, Object> entry = new LinkedHashMap<>();
                entry.put("controller", cls.name.substring(cls.name.lastIndexOf('.') + 1));
                entry.put("method", method.name());
                entry.put("http", mapping.methods);
                List<String> paths = new ArrayList<>();
                for (String base : bases) {
                    for (String sub : mapping.paths) {
                        paths.add(join(base, sub));
                    }
                }
                entry.put("paths", paths);
                ClassFile.Annotation status = ClassFile.find(method.annotations(), WEB + "ResponseStatus");
                if (status == null) {
                    status = cls.annotation(WEB + "ResponseStatus");
                }
                entry.put("responseStatus", status == null ? null : enumName(status.get("value") != null ? status.get("value") : status.get("code")));
                ClassFile.Annotation apiException = ClassFile.find(method.annotations(), "org.apache.dolphinscheduler.api.exceptions.ApiException");
                entry.put("apiException", apiException == null ? null : enumName(apiException.get("value")));
                entry.put("params", parameters(method));
                out.add(entry);
            }
        }
        return out;
    }

    private record Mapping(List<String> methods, List<String> paths) {}

    private static Mapping mapping(ClassFile.Method method) {
        for (ClassFile.Annotation a : method.annotations()) {
            String simple = a.type().startsWith(WEB) ? a.type().substring(WEB.length()) : null;
            if (simple == null) {
                continue;
            }
            List<String> paths = strings(a, List.of(""));
            switch (simple) {
                case "GetMapping" -> {
                    return new Mapping(List.of("GET"), paths);
                }
                case "PostMapping" -> {
                    return new Mapping(List.of("POST"), paths);
                }
                case "PutMapping" -> {
                    return new Mapping(List.of("PUT"), paths);
                }
                case "DeleteMapping" -> {
                    return new Mapping(List.of("DELETE"), paths);
                }
                case "PatchMapping" -> {
                    return new Mapping(List.of("PATCH"), paths);
                }
                case "RequestMapping" -> {
                    List<String> methods = new ArrayList<>();
                    Object value = a.get("method");
                    if (value instanceof List<?> list) {
                        for (Object item : list) {
                            methods.add(enumName(item));
                        }
                    }
                    return new Mapping(methods, paths);
                }
                default -> {
                }
            }
        }
        return null;
    }

    private static List<Object> parameters(ClassFile.Method method) {
        List<String> types = Descriptors.parameterTypes(method.descriptor());
        List<Object> out = new ArrayList<>();
        for (int i = 0; i < types.size(); i++) {
            Map<String, Object> p = new LinkedHashMap<>();
            String source = null;
            ClassFile.Annotation binding = null;
            for (ClassFile.Annotation a : method.parameterAnnotations().get(i)) {
                if (a.type().startsWith(WEB)) {
                    source = a.type().substring(WEB.length());
                    binding = a;
                }
            }
            String declared = binding == null ? null : firstNonEmpty(binding.get("value"), binding.get("name"));
            p.put("source", source);
            p.put("name", declared != null ? declared : method.parameterNames().get(i));
            Object required = binding == null ? null : binding.get("required");
            Object defaultValue = binding == null ? null : binding.get("defaultValue");
            String def = defaultValue == null || DEFAULT_NONE.equals(defaultValue) ? null : (String) defaultValue;
            p.put("defaultValue", def);
            // Spring: a parameter with a default value is never required, whatever `required` says
            p.put("required", binding != null && def == null && (required == null || (Boolean) required));
            p.put("type", types.get(i));
            p.put("enumConstants", enumNames(types.get(i)));
            out.add(p);
        }
        return out;
    }

    /** The constant names when {@code type} is an enum the jars hold (what Spring binds a parameter to), else null. */
    private static List<String> enumNames(String type) {
        if (!type.startsWith("org.apache.dolphinscheduler.")) {
            return null;
        }
        try {
            Class<?> cls = Class.forName(type, false, Harness.class.getClassLoader());
            if (!cls.isEnum()) {
                return null;
            }
            List<String> names = new ArrayList<>();
            for (Object constant : cls.getEnumConstants()) {
                names.add(((Enum<?>) constant).name());
            }
            return names;
        } catch (ClassNotFoundException | LinkageError e) {
            return null;
        }
    }

    static String join(String base, String sub) {
        String b = base.replaceAll("^/+|/+$", "");
        String s = sub.replaceAll("^/+", "");
        String path = b.isEmpty() ? "/" + s : s.isEmpty() ? "/" + b : "/" + b + "/" + s;
        return path.length() > 1 && path.endsWith("/") ? path.substring(0, path.length() - 1) : path;
    }

    private static List<String> strings(ClassFile.Annotation a, List<String> fallback) {
        if (a == null) {
            return fallback;
        }
        Object value = a.get("value") != null ? a.get("value") : a.get("path");
        if (!(value instanceof List<?> list) || list.isEmpty()) {
            return fallback;
        }
        List<String> out = new ArrayList<>();
        for (Object item : list) {
            out.add(String.valueOf(item));
        }
        return out;
    }

    private static String firstNonEmpty(Object... values) {
        for (Object v : values) {
            if (v instanceof String s && !s.isEmpty()) {
                return s;
            }
        }
        return null;
    }

    private static String enumName(Object value) {
        return value instanceof ClassFile.EnumValue e ? e.name() : value == null ? null : String.valueOf(value);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Python gateway

    static List<Object> publicMethods(ClassFile cls) {
        if (cls == null) {
            throw new IllegalStateException("class not found in the jars");
        }
        List<Object> out = new ArrayList<>();
        for (ClassFile.Method method : cls.methods) {
            if (!method.isPublic() || method.isStatic() || method.isSynthetic() || method.name().startsWith("<")) {
                continue;
            }
            Map<String, Object> entry = new LinkedHashMap<>();
            entry.put("name", method.name());
            entry.put("parameterTypes", Descriptors.parameterTypes(method.descriptor()));
            entry.put("parameterNames", method.parameterNames());
            entry.put("returnType", Descriptors.returnType(method.descriptor()));
            out.add(entry);
        }
        return out;
    }

    // ------------------------------------------------------------------------------------------------------------
    // Status table and enums (the enum classes load without their module's dependencies)

    static List<Object> status(String className) throws Exception {
        List<Object> out = new ArrayList<>();
        Class<?> cls = Class.forName(className);
        Field code = cls.getDeclaredField("code");
        Field enMsg = cls.getDeclaredField("enMsg");
        code.setAccessible(true);
        enMsg.setAccessible(true);
        for (Object constant : cls.getEnumConstants()) {
            Map<String, Object> entry = new LinkedHashMap<>();
            entry.put("name", ((Enum<?>) constant).name());
            entry.put("code", code.getInt(constant));
            entry.put("enMsg", enMsg.get(constant));
            out.add(entry);
        }
        return out;
    }

    static List<Object> enumConstants(String className) throws Exception {
        Class<?> cls = Class.forName(className);
        Field code = null;
        for (Field f : cls.getDeclaredFields()) {
            if (f.getName().equals("code") && f.getType() == int.class && !Modifier.isStatic(f.getModifiers())) {
                code = f;
                code.setAccessible(true);
            }
        }
        List<Object> out = new ArrayList<>();
        for (Object constant : cls.getEnumConstants()) {
            Enum<?> e = (Enum<?>) constant;
            Map<String, Object> entry = new LinkedHashMap<>();
            entry.put("name", e.name());
            entry.put("ordinal", e.ordinal());
            entry.put("code", code == null ? null : code.getInt(constant));
            out.add(entry);
        }
        return out;
    }

    // ------------------------------------------------------------------------------------------------------------
    // References to classes of modules Maven Central does not serve: every field and method the DS jars use of them,
    // and whether the class on the harness's class path (a stand-in, if any) has it ("resolved" null: no such class)

    static Map<String, Object> references(List<JarFile> jars, JsonNode names) throws Exception {
        Map<String, Object> out = new LinkedHashMap<>();
        Map<String, TreeSet<String>> seen = new LinkedHashMap<>();
        for (JsonNode name : names) {
            seen.put(name.asText(), new TreeSet<>());
        }
        for (JarFile jar : jars) {
            for (ClassFile cls : classes(jar, "org/apache/dolphinscheduler/")) {
                for (ClassFile.MemberRef ref : cls.references) {
                    TreeSet<String> refs = seen.get(ref.owner());
                    if (refs != null) {
                        refs.add((ref.isMethod() ? "method " : "field ") + ref.name() + " " + ref.descriptor());
                    }
                }
            }
        }
        for (Map.Entry<String, TreeSet<String>> entry : seen.entrySet()) {
            Class<?> cls;
            try {
                cls = Class.forName(entry.getKey());
            } catch (ClassNotFoundException e) {
                cls = null;
            }
            List<Object> refs = new ArrayList<>();
            for (String ref : entry.getValue()) {
                String[] parts = ref.split(" ");
                Map<String, Object> r = new LinkedHashMap<>();
                r.put("kind", parts[0]);
                r.put("name", parts[1]);
                r.put("descriptor", parts[2]);
                r.put("resolved", cls == null ? null : parts[0].equals("method") ? hasMethod(cls, parts[1], parts[2]) : hasField(cls, parts[1]));
                refs.add(r);
            }
            out.put(entry.getKey(), refs);
        }
        return out;
    }

    private static boolean hasMethod(Class<?> cls, String name, String descriptor) {
        if (name.equals("<init>")) {
            return java.util.Arrays.stream(cls.getDeclaredConstructors()).anyMatch(c -> descriptor(c.getParameterTypes(), void.class).equals(descriptor));
        }
        for (Class<?> c = cls; c != null; c = c.getSuperclass()) {
            for (Method m : c.getDeclaredMethods()) {
                if (m.getName().equals(name) && descriptor(m.getParameterTypes(), m.getReturnType()).equals(descriptor)) {
                    return true;
                }
            }
        }
        return false;
    }

    private static boolean hasField(Class<?> cls, String name) {
        for (Class<?> c = cls; c != null; c = c.getSuperclass()) {
            for (Field f : c.getDeclaredFields()) {
                if (f.getName().equals(name)) {
                    return true;
                }
            }
        }
        return false;
    }

    private static String descriptor(Class<?>[] parameters, Class<?> returns) {
        StringBuilder sb = new StringBuilder("(");
        for (Class<?> p : parameters) {
            sb.append(p.descriptorString());
        }
        return sb.append(')').append(returns.descriptorString()).toString();
    }

    // ------------------------------------------------------------------------------------------------------------
    // Entity JSON through DS's JSONUtils

    static Map<String, Object> readAndWrite(JsonNode document) throws Exception {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("id", document.get("id").asText());
        String text = document.get("json").asText();
        Class<?> entity = Class.forName(document.get("entity").asText());
        boolean list = document.get("list").asBoolean();
        List<String> unknown = new ArrayList<>();
        try {
            Field field = JSONUtils.class.getDeclaredField("objectMapper");
            field.setAccessible(true);
            ObjectMapper strict = ((ObjectMapper) field.get(null)).copy().addHandler(new DeserializationProblemHandler() {
                @Override
                public boolean handleUnknownProperty(DeserializationContext ctxt, JsonParser p, JsonDeserializer<?> deserializer, Object beanOrClass, String propertyName) throws IOException {
                    Object owner = beanOrClass instanceof Class<?> c ? c.getSimpleName() : beanOrClass.getClass().getSimpleName();
                    unknown.add(owner + "." + propertyName);
                    p.skipChildren();
                    return true;
                }
            });
            JavaType type = list ? strict.getTypeFactory().constructCollectionType(List.class, entity) : strict.constructType(entity);
            strict.readValue(text, type);
            // the same document through the call DS makes (JSONUtils swallows errors: null or an empty list)
            Object parsed = list ? JSONUtils.toList(text, entity) : JSONUtils.parseObject(text, entity);
            if (parsed == null || (list && ((List<?>) parsed).isEmpty())) {
                throw new IllegalStateException("JSONUtils read nothing from the document");
            }
            out.put("unknown", unknown);
            out.put("written", OUT.readTree(JSONUtils.toJsonString(parsed)));
            out.put("error", null);
        } catch (Exception | LinkageError e) {
            StringWriter trace = new StringWriter();
            e.printStackTrace(new PrintWriter(trace));
            out.put("unknown", unknown);
            out.put("written", null);
            out.put("error", trace.toString());
        }
        return out;
    }

    // ------------------------------------------------------------------------------------------------------------
    // Jar plumbing

    static List<ClassFile> classes(JarFile jar, String prefix) throws IOException {
        List<ClassFile> out = new ArrayList<>();
        Enumeration<JarEntry> entries = jar.entries();
        while (entries.hasMoreElements()) {
            JarEntry entry = entries.nextElement();
            if (entry.getName().startsWith(prefix) && entry.getName().endsWith(".class")) {
                try (InputStream in = jar.getInputStream(entry)) {
                    out.add(new ClassFile(in.readAllBytes()));
                }
            }
        }
        return out;
    }

    static ClassFile classFile(List<JarFile> jars, String className) throws IOException {
        String entryName = className.replace('.', '/') + ".class";
        for (JarFile jar : jars) {
            JarEntry entry = jar.getJarEntry(entryName);
            if (entry != null) {
                try (InputStream in = jar.getInputStream(entry)) {
                    return new ClassFile(in.readAllBytes());
                }
            }
        }
        return null;
    }

}
