// WeakIntern.java -- the Java peer of `weak-table-bench`'s interning and
// weak-table figures.
//
// With a live heap of BALLAST-MB (an array of 16-byte int arrays) and N names
// "sym-0" ... "sym-(N-1)" made beforehand as char arrays, it times:
//   intern_miss_insert_ns  new String(chars).intern() of each new name
//                          (interned strings kept: String.intern is the JVM's
//                          weak symbol table)
//   intern_hit_ns          the same again, each from a new String (a probe
//                          object per lookup, as Java needs), in order
//   intern_hit_random_ns   the same in a shuffled order
//   weak_insert_ns         WeakHashMap.put with N fresh keys (kept)
//   weak_hit_ns            WeakHashMap.get of each key (the same objects)
//   weak_content_hit_ns    WeakHashMap<String, ...>.get with an equal, new
//                          String (a content lookup)
//   gc_ms                  System.gc() with all of it live (median of 5,
//                          wall time)
// Hits are the best of 5 batches (the JIT warms up on the first).
//
// Usage: java WeakIntern N BALLAST-MB
// Output, one line for the Swift harness (ChildRecord):
//   result key=value ...
// Written for this project.

import java.util.Arrays;
import java.util.Random;
import java.util.WeakHashMap;

public final class WeakIntern {
    static long sink;

    public static void main(String[] args) {
        int n = Integer.parseInt(args[0]);
        int ballastMB = Integer.parseInt(args[1]);
        int[][] ballast = new int[ballastMB * 1048576 / 16][];
        for (int i = 0; i < ballast.length; i++) ballast[i] = new int[0];

        char[][] names = new char[n][];
        for (int i = 0; i < n; i++) names[i] = ("sym-" + i).toCharArray();
        int[] order = new int[n];
        for (int i = 0; i < n; i++) order[i] = i;
        Random random = new Random(42);
        for (int i = n - 1; i > 0; i--) {
            int j = random.nextInt(i + 1);
            int t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        System.gc();

        String[] symbols = new String[n];
        long start = System.nanoTime();
        for (int i = 0; i < n; i++) symbols[i] = new String(names[i]).intern();
        double internMiss = (double) (System.nanoTime() - start) / n;

        double internHit = Double.MAX_VALUE;
        double internHitRandom = Double.MAX_VALUE;
        for (int round = 0; round < 5; round++) {
            start = System.nanoTime();
            for (int i = 0; i < n; i++) sink += new String(names[i]).intern().length();
            internHit = Math.min(internHit, (double) (System.nanoTime() - start) / n);
            start = System.nanoTime();
            for (int i = 0; i < n; i++) sink += new String(names[order[i]]).intern().length();
            internHitRandom = Math.min(internHitRandom, (double) (System.nanoTime() - start) / n);
        }

        WeakHashMap<Object, Integer> table = new WeakHashMap<>();
        Object[] keys = new Object[n];
        for (int i = 0; i < n; i++) keys[i] = new Object();
        start = System.nanoTime();
        for (int i = 0; i < n; i++) table.put(keys[i], i);
        double weakInsert = (double) (System.nanoTime() - start) / n;
        double weakHit = Double.MAX_VALUE;
        for (int round = 0; round < 5; round++) {
            start = System.nanoTime();
            for (int i = 0; i < n; i++) sink += table.get(keys[i]);
            weakHit = Math.min(weakHit, (double) (System.nanoTime() - start) / n);
        }

        WeakHashMap<String, Integer> byName = new WeakHashMap<>();
        for (int i = 0; i < n; i++) byName.put(symbols[i], i);
        double contentHit = Double.MAX_VALUE;
        for (int round = 0; round < 5; round++) {
            start = System.nanoTime();
            for (int i = 0; i < n; i++) sink += byName.get(new String(names[i]));
            contentHit = Math.min(contentHit, (double) (System.nanoTime() - start) / n);
        }

        double[] gcs = new double[5];
        for (int round = 0; round < 5; round++) {
            start = System.nanoTime();
            System.gc();
            gcs[round] = (System.nanoTime() - start) / 1e6;
        }
        Arrays.sort(gcs);

        System.out.printf(
            "result intern_miss_insert_ns=%.1f intern_hit_ns=%.1f intern_hit_random_ns=%.1f weak_insert_ns=%.1f"
                + " weak_hit_ns=%.1f weak_content_hit_ns=%.1f gc_ms=%.2f entries=%d ballast_mb=%d%n",
            internMiss, internHit, internHitRandom, weakInsert, weakHit, contentHit, gcs[2], n, ballastMB);
        if (sink == 42 && ballast.length + symbols.length + keys.length + table.size() + byName.size() > 0) {
            System.out.println();
        }
    }
}
