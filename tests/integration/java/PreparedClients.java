// pgjdbc clients for test_prepared.py: server-side prepared statements from the first execution
// (prepareThreshold=1) in several threads at once, with a tiny statement cache so that pgjdbc also
// closes statements (protocol Close) and prepares them again. Prints every result, one line each,
// in a fixed order (thread by thread).
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;

public class PreparedClients {
    static String url;
    static String table;
    static int rounds;

    public static void main(String[] args) throws Exception {
        int port = Integer.parseInt(args[0]);
        int threads = Integer.parseInt(args[1]);
        rounds = Integer.parseInt(args[2]);
        table = args[3];
        url = "jdbc:postgresql://127.0.0.1:" + port + "/postgres?user=postgres"
            + "&prepareThreshold=1&preparedStatementCacheQueries=2&sslmode=disable";
        List<List<String>> out = new ArrayList<>();
        List<Thread> ts = new ArrayList<>();
        List<Throwable> errors = new ArrayList<>();
        for (int k = 0; k < threads; k++) {
            List<String> mine = new ArrayList<>();
            out.add(mine);
            final int kk = k;
            Thread t = new Thread(() -> {
                try {
                    work(kk, mine);
                } catch (Throwable e) {
                    synchronized (errors) { errors.add(e); }
                }
            });
            ts.add(t);
            t.start();
        }
        for (Thread t : ts) t.join();
        if (!errors.isEmpty()) {
            for (Throwable e : errors) {
                System.err.println(e);
                if (e instanceof SQLException) System.err.println("SQLSTATE " + ((SQLException) e).getSQLState());
            }
            System.exit(1);
        }
        for (List<String> lines : out)
            for (String l : lines) System.out.println(l);
    }

    static String rows(ResultSet rs) throws SQLException {
        StringBuilder sb = new StringBuilder();
        int n = rs.getMetaData().getColumnCount();
        while (rs.next()) {
            sb.append('[');
            for (int i = 1; i <= n; i++) sb.append(i > 1 ? "," : "").append(rs.getString(i));
            sb.append(']');
        }
        rs.close();
        return sb.toString();
    }

    static void work(int k, List<String> out) throws SQLException {
        try (Connection c = DriverManager.getConnection(url)) {
            String[] texts = {
                "SELECT id, v FROM " + table + " WHERE id = ?",
                "SELECT count(*), sum(id) FROM " + table + " WHERE id BETWEEN ? AND ?",
                "SELECT ?::text || 'j'",
            };
            for (int i = 0; i < rounds; i++) {
                int which = (i + k) % texts.length;
                // a new PreparedStatement each time: pgjdbc reuses its server-side statement from its
                // cache, or (the cache holds 2) closes an old one and prepares again
                try (PreparedStatement ps = c.prepareStatement(texts[which])) {
                    if (which == 0) ps.setInt(1, (i + k) % 50 + 1);
                    if (which == 1) { ps.setInt(1, i % 40 + 1); ps.setInt(2, i % 40 + 10); }
                    if (which == 2) ps.setString(1, "t" + k + "_" + i);
                    out.add(k + ":" + i + ":" + rows(ps.executeQuery()));
                }
                if (i % 6 == 0) {
                    c.setAutoCommit(false);
                    try (PreparedStatement up = c.prepareStatement("UPDATE " + table + " SET n = n + 1 WHERE id = ?")) {
                        up.setInt(1, k % 50 + 1);
                        up.executeUpdate();
                    }
                    try (PreparedStatement sel = c.prepareStatement("SELECT v FROM " + table + " WHERE id = ?")) {
                        sel.setInt(1, k % 50 + 1);
                        out.add(k + ":" + i + ":tx:" + rows(sel.executeQuery()));
                    }
                    c.commit();
                    c.setAutoCommit(true);
                }
            }
        }
    }
}
