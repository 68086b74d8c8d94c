package dsemulator;

/** Thrown to the py4j client (it becomes a Py4JJavaError) with DolphinScheduler's message. */
public class ServiceException extends RuntimeException {
    public ServiceException(String message) {
        super(message);
    }
}
