import BoehmGC

// A small demo: allocate, hold with roots, collect, print statistics.
let kept = (0..<1000).map { i -> GCRoot in
    let root = try! GCRoot(byteCount: 64)
    root.withUnsafeMutableBytes { $0.storeBytes(of: i, as: Int.self) }
    return root
}
for _ in 0..<100_000 { _ = try! GC.unsafeAllocate(byteCount: 64) }
GC.collect()
let intact = kept.enumerated().allSatisfy { i, root in
    root.withUnsafeMutableBytes { $0.load(as: Int.self) } == i
}
let stats = GC.statistics
print("roots intact: \(intact), collections: \(stats.collections), heap: \(stats.heapSize / 1024) KiB")
