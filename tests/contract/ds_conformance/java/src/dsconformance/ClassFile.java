package dsconformance;

import java.io.ByteArrayInputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A minimal reader of the parts of a compiled class (JVMS chapter 4) the harness needs, without loading the class:
 * its name, its runtime-visible annotations, its methods with their descriptors, annotations, parameter annotations
 * and parameter names (from the LocalVariableTable), and the field and method references of its constant pool.
 *
 * Reading the bytes instead of reflecting keeps the harness independent of the classes a signature mentions
 * (Spring, servlet, storage plugins): only the DS jars themselves are needed.
 */
final class ClassFile {

    /** An annotation: its type as a dotted class name and its element values. */
    record Annotation(String type, Map<String, Object> values) {
        Object get(String name) {
            return values.get(name);
        }
    }

    /** An enum constant used as an annotation value, e.g. {@code RequestMethod.POST}. */
    record EnumValue(String type, String name) {
        @Override
        public String toString() {
            return name;
        }
    }

    /** A field or method reference from the constant pool. */
    record MemberRef(String owner, String name, String descriptor, boolean isMethod) {}

    record Method(
            int access,
            String name,
            String descriptor,
            List<Annotation> annotations,
            List<List<Annotation>> parameterAnnotations,
            List<String> parameterNames) {
        boolean isPublic() {
            return (access & 0x0001) != 0;
        }

        boolean isStatic() {
            return (access & 0x0008) != 0;
        }

        boolean isSynthetic() {
            return (access & 0x1000) != 0;
        }
    }

    final String name;
    final List<Annotation> annotations = new ArrayList<>();
    final List<Method> methods = new ArrayList<>();
    final List<MemberRef> references = new ArrayList<>();

    private final Object[] pool;
    private final int[] tags;

    ClassFile(byte[] bytes) throws IOException {
        DataInputStream in = new DataInputStream(new ByteArrayInputStream(bytes));
        if (in.readInt() != 0xCAFEBABE) {
            throw new IOException("not a class file");
        }
        in.readUnsignedShort();
        in.readUnsignedShort();
        int count = in.readUnsignedShort();
        pool = new Object[count];
        tags = new int[count];
        for (int i = 1; i < count; i++) {
            int tag = in.readUnsignedByte();
            tags[i] = tag;
            switch (tag) {
                case 1 -> pool[i] = in.readUTF();
                case 3 -> pool[i] = in.readInt();
                case 4 -> pool[i] = in.readFloat();
                case 5 -> {
                    pool[i] = in.readLong();
                    i++;
                }
                case 6 -> {
                    pool[i] = in.readDouble();
                    i++;
                }
                case 7, 8, 16, 19, 20 -> pool[i] = new int[] {in.readUnsignedShort()};
                case 9, 10, 11, 12, 17, 18 -> pool[i] = new int[] {in.readUnsignedShort(), in.readUnsignedShort()};
                case 15 -> pool[i] = new int[] {in.readUnsignedByte(), in.readUnsignedShort()};
                default -> throw new IOException("unknown constant pool tag " + tag);
            }
        }
        in.readUnsignedShort();
        name = className(in.readUnsignedShort());
        in.readUnsignedShort();
        int interfaces = in.readUnsignedShort();
        for (int i = 0; i < interfaces; i++) {
            in.readUnsignedShort();
        }
        int fields = in.readUnsignedShort();
        for (int i = 0; i < fields; i++) {
            in.readUnsignedShort();
            in.readUnsignedShort();
            in.readUnsignedShort();
            skipAttributes(in);
        }
        int methodCount = in.readUnsignedShort();
        for (int i = 0; i < methodCount; i++) {
            methods.add(readMethod(in));
        }
        int attributes = in.readUnsignedShort();
        for (int i = 0; i < attributes; i++) {
            String attribute = utf(in.readUnsignedShort());
            byte[] body = in.readNBytes(in.readInt());
            if (attribute.equals("RuntimeVisibleAnnotations")) {
                annotations.addAll(readAnnotations(new DataInputStream(new ByteArrayInputStream(body))));
            }
        }
        for (int i = 1; i < count; i++) {
            if (tags[i] == 9 || tags[i] == 10 || tags[i] == 11) {
                int[] ref = (int[]) pool[i];
                int[] nameAndType = (int[]) pool[ref[1]];
                references.add(new MemberRef(
                        className(ref[0]), utf(nameAndType[0]), utf(nameAndType[1]), tags[i] != 9));
            }
        }
    }

    Annotation annotation(String type) {
        return find(annotations, type);
    }

    static Annotation find(List<Annotation> list, String type) {
        for (Annotation a : list) {
            if (a.type().equals(type)) {
                return a;
            }
        }
        return null;
    }

    private Method readMethod(DataInputStream in) throws IOException {
        int access = in.readUnsignedShort();
        String methodName = utf(in.readUnsignedShort());
        String descriptor = utf(in.readUnsignedShort());
        List<Annotation> methodAnnotations = new ArrayList<>();
        List<List<Annotation>> parameterAnnotations = new ArrayList<>();
        Map<Integer, String> localNames = new LinkedHashMap<>();
        int attributes = in.readUnsignedShort();
        for (int i = 0; i < attributes; i++) {
            String attribute = utf(in.readUnsignedShort());
            byte[] body = in.readNBytes(in.readInt());
            DataInputStream data = new DataInputStream(new ByteArrayInputStream(body));
            switch (attribute) {
                case "RuntimeVisibleAnnotations" -> methodAnnotations.addAll(readAnnotations(data));
                case "RuntimeVisibleParameterAnnotations" -> {
                    int parameters = data.readUnsignedByte();
                    for (int p = 0; p < parameters; p++) {
                        parameterAnnotations.add(readAnnotations(data));
                    }
                }
                case "Code" -> readLocalNames(data, localNames);
                default -> {
                }
            }
        }
        List<String> types = Descriptors.parameterTypes(descriptor);
        while (parameterAnnotations.size() < types.size()) {
            parameterAnnotations.add(List.of());
        }
        List<String> names = new ArrayList<>();
        int slot = (access & 0x0008) != 0 ? 0 : 1;
        for (String type : types) {
            names.add(localNames.get(slot));
            slot += type.equals("long") || type.equals("double") ? 2 : 1;
        }
        return new Method(access, methodName, descriptor, methodAnnotations, parameterAnnotations, names);
    }

    private void readLocalNames(DataInputStream code, Map<Integer, String> names) throws IOException {
        code.readUnsignedShort();
        code.readUnsignedShort();
        code.skipNBytes(code.readInt());
        int handlers = code.readUnsignedShort();
        code.skipNBytes(handlers * 8L);
        int attributes = code.readUnsignedShort();
        for (int i = 0; i < attributes; i++) {
            String attribute = utf(code.readUnsignedShort());
            int length = code.readInt();
            if (!attribute.equals("LocalVariableTable")) {
                code.skipNBytes(length);
                continue;
            }
            int entries = code.readUnsignedShort();
            for (int e = 0; e < entries; e++) {
                int start = code.readUnsignedShort();
                code.readUnsignedShort();
                String local = utf(code.readUnsignedShort());
                code.readUnsignedShort();
                int index = code.readUnsignedShort();
                if (start == 0) {
                    names.putIfAbsent(index, local);
                }
            }
        }
    }

    private static void skipAttributes(DataInputStream in) throws IOException {
        int attributes = in.readUnsignedShort();
        for (int i = 0; i < attributes; i++) {
            in.readUnsignedShort();
            in.skipNBytes(in.readInt());
        }
    }

    private List<Annotation> readAnnotations(DataInputStream in) throws IOException {
        int count = in.readUnsignedShort();
        List<Annotation> out = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            out.add(readAnnotation(in));
        }
        return out;
    }

    private Annotation readAnnotation(DataInputStream in) throws IOException {
        String type = Descriptors.typeName(utf(in.readUnsignedShort()));
        Map<String, Object> values = new LinkedHashMap<>();
        int pairs = in.readUnsignedShort();
        for (int i = 0; i < pairs; i++) {
            String element = utf(in.readUnsignedShort());
            values.put(element, readValue(in));
        }
        return new Annotation(type, values);
    }

    private Object readValue(DataInputStream in) throws IOException {
        int tag = in.readUnsignedByte();
        return switch (tag) {
            case 'B', 'C', 'I', 'S' -> (Integer) pool[in.readUnsignedShort()];
            case 'Z' -> ((Integer) pool[in.readUnsignedShort()]) != 0;
            case 'J', 'D', 'F' -> pool[in.readUnsignedShort()];
            case 's' -> utf(in.readUnsignedShort());
            case 'e' -> new EnumValue(Descriptors.typeName(utf(in.readUnsignedShort())), utf(in.readUnsignedShort()));
            case 'c' -> Descriptors.typeName(utf(in.readUnsignedShort()));
            case '@' -> readAnnotation(in);
            case '[' -> {
                int n = in.readUnsignedShort();
                List<Object> items = new ArrayList<>();
                for (int i = 0; i < n; i++) {
                    items.add(readValue(in));
                }
                yield items;
            }
            default -> throw new IOException("unknown annotation value tag " + (char) tag);
        };
    }

    private String utf(int index) {
        return (String) pool[index];
    }

    private String className(int index) {
        return utf(((int[]) pool[index])[0]).replace('/', '.');
    }
}
