#if canImport(Glibc)
    import Glibc
#endif

/// A growable byte buffer in malloc'd memory with a read index: a port's raw
/// input, decoded text or encoded output.
///
/// It lives outside the GC heap on purpose: read(2) writes into it, and a
/// system call that writes into a GC page protected by libgc's incremental
/// mode fails with EFAULT. Not thread-safe: each buffer belongs to one port
/// and is used under that port's lock.
internal struct ByteBuffer: ~Copyable {
    private(set) var base: UnsafeMutablePointer<UInt8>
    private(set) var capacity: Int
    /// Index of the first unread byte.
    private(set) var start = 0
    /// Index one past the last byte written.
    private(set) var end = 0

    init(capacity: Int) {
        let capacity = max(capacity, 16)
        guard let memory = malloc(capacity) else { preconditionFailure("malloc(\(capacity)) failed") }
        base = memory.assumingMemoryBound(to: UInt8.self)
        self.capacity = capacity
    }

    deinit { free(base) }

    var count: Int { end - start }
    var isEmpty: Bool { end == start }

    /// The unread bytes; valid until the buffer is next changed.
    var readable: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base + start, count: end - start) }

    /// The free space after the last byte.
    ///
    /// Valid until the buffer is next changed. Write into it, then
    /// ``commit(_:)``.
    var freeSpace: UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(start: base + end, count: capacity - end)
    }

    /// Makes room for `byteCount` more bytes after the last one, moving the
    /// unread bytes to the front or growing the memory.
    mutating func reserveFree(_ byteCount: Int) {
        if capacity - end >= byteCount { return }
        let unread = count
        if start > 0 {
            if unread > 0 { memmove(base, base + start, unread) }
            start = 0
            end = unread
            if capacity - end >= byteCount { return }
        }
        var newCapacity = capacity
        while newCapacity - unread < byteCount { newCapacity = newCapacity > Int.max / 2 ? Int.max : newCapacity * 2 }
        guard let memory = realloc(base, newCapacity) else { preconditionFailure("realloc(\(newCapacity)) failed") }
        base = memory.assumingMemoryBound(to: UInt8.self)
        capacity = newCapacity
    }

    /// Adds `byteCount` bytes written into ``freeSpace``.
    mutating func commit(_ byteCount: Int) {
        precondition(byteCount >= 0 && byteCount <= capacity - end)
        end += byteCount
    }

    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard let source = bytes.baseAddress, bytes.count > 0 else { return }
        reserveFree(bytes.count)
        memcpy(base + end, source, bytes.count)
        end += bytes.count
    }

    mutating func append(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { append($0) }
    }

    /// Marks the first `byteCount` unread bytes read.
    mutating func consume(_ byteCount: Int) {
        precondition(byteCount >= 0 && byteCount <= count)
        start += byteCount
        if start == end {
            start = 0
            end = 0
        }
    }

    /// Keeps only the first `byteCount` unread bytes (undoes appends).
    mutating func truncate(toCount byteCount: Int) {
        precondition(byteCount >= 0 && byteCount <= count)
        end = start + byteCount
    }

    /// Removes `byteCount` bytes at `offset` from the first unread byte.
    mutating func remove(at offset: Int, count byteCount: Int) {
        precondition(offset >= 0 && byteCount >= 0 && offset + byteCount <= count)
        let tail = count - offset - byteCount
        if tail > 0 { memmove(base + start + offset, base + start + offset + byteCount, tail) }
        end -= byteCount
    }

    mutating func removeAll() {
        start = 0
        end = 0
    }

    /// Gives memory back when the buffer grew past four times `baseline`
    /// bytes and what it holds fits in `baseline`.
    mutating func shrinkIfOversized(baseline: Int) {
        let baseline = max(baseline, 16)
        guard capacity > 4 * baseline, count <= baseline else { return }
        let unread = count
        if unread > 0 && start > 0 { memmove(base, base + start, unread) }
        start = 0
        end = unread
        guard let memory = realloc(base, baseline) else { return }
        base = memory.assumingMemoryBound(to: UInt8.self)
        capacity = baseline
    }
}
