package dsconformance;

import java.util.ArrayList;
import java.util.List;

/** JVM type descriptors (JVMS 4.3) as the Java type names javap prints: {@code int}, {@code java.lang.String[]}. */
final class Descriptors {

    private Descriptors() {}

    static List<String> parameterTypes(String methodDescriptor) {
        List<String> out = new ArrayList<>();
        int i = 1;
        while (methodDescriptor.charAt(i) != ')') {
            int end = end(methodDescriptor, i);
            out.add(typeName(methodDescriptor.substring(i, end)));
            i = end;
        }
        return out;
    }

    static String returnType(String methodDescriptor) {
        return typeName(methodDescriptor.substring(methodDescriptor.indexOf(')') + 1));
    }

    static String typeName(String descriptor) {
        return switch (descriptor.charAt(0)) {
            case 'B' -> "byte";
            case 'C' -> "char";
            case 'D' -> "double";
            case 'F' -> "float";
            case 'I' -> "int";
            case 'J' -> "long";
            case 'S' -> "short";
            case 'Z' -> "boolean";
            case 'V' -> "void";
            case '[' -> typeName(descriptor.substring(1)) + "[]";
            case 'L' -> descriptor.substring(1, descriptor.length() - 1).replace('/', '.');
            default -> throw new IllegalArgumentException("bad descriptor " + descriptor);
        };
    }

    private static int end(String descriptor, int start) {
        int i = start;
        while (descriptor.charAt(i) == '[') {
            i++;
        }
        return descriptor.charAt(i) == 'L' ? descriptor.indexOf(';', i) + 1 : i + 1;
    }
}
