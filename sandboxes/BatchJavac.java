// Compiles a batch of Java programs in one warm JVM (the sandbox agent's batch compile).
//
// Usage: java BatchJavac.java [javac options] -- DIR/Main.java DIR2/Other.java ...
// Each source compiles on its own (its own javac task, output dir = the source's dir), exactly
// as `javac <options> -d DIR DIR/Main.java` would; the exit code and diagnostics are written to
// DIR/.compile.rc and DIR/.compile.err for the agent to read. Saves the JVM start and JIT
// warm-up that dominate javac on small programs. Runs before any program of the batch runs.
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import javax.tools.JavaCompiler;
import javax.tools.ToolProvider;

public class BatchJavac {
    public static void main(String[] args) throws Exception {
        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        int sep = Arrays.asList(args).indexOf("--");
        List<String> options = Arrays.asList(args).subList(0, sep);
        for (int i = sep + 1; i < args.length; i++) {
            Path source = Paths.get(args[i]);
            Path dir = source.getParent();
            ByteArrayOutputStream err = new ByteArrayOutputStream();
            List<String> argv = new ArrayList<>(options);
            argv.add("-d");
            argv.add(dir.toString());
            argv.add(source.toString());
            int rc;
            try {
                rc = javac.run(null, err, err, argv.toArray(new String[0]));
            } catch (Throwable t) {
                rc = 4;
                err.write(t.toString().getBytes(StandardCharsets.UTF_8));
            }
            Files.write(dir.resolve(".compile.err"), err.toByteArray());
            Files.write(dir.resolve(".compile.rc"), Integer.toString(rc).getBytes(StandardCharsets.UTF_8));
        }
    }
}
