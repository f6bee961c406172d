#if canImport(Glibc)
    import Glibc
#endif

/// A growable byte buffer with a read index: a port's raw input, decoded
/// text or encoded output.
///
/// Its memory is malloc'd, or, for a short buffer, bytes the owner lends it
/// (a string port's record, see ``PortResource``): an inline buffer moves
/// to malloc'd memory when it must grow. It lives outside scanned GC
/// memory on purpose: read(2) writes into it, and a system call that writes
/// into a GC page protected by libgc's generational mode fails with EFAULT
/// (the pointer-free record is never protected). Not thread-safe: each
/// buffer belongs to one port and is used under that port's lock.
internal struct ByteBuffer: ~Copyable {
    private(set) var base: UnsafeMutablePointer<UInt8>
    private(set) var capacity: Int
    /// Index of the first unread byte.
    private(set) var start = 0
    /// Index one past the last byte written.
    private(set) var end = 0
    /// The memory is the owner's, not malloc'd: never freed or reallocated.
    private var isInline = false

    init(capacity: Int) {
        let capacity = max(capacity, 16)
        guard let memory = malloc(capacity) else { preconditionFailure("malloc(\(capacity)) failed") }
        base = memory.assumingMemoryBound(to: UInt8.self)
        self.capacity = capacity
    }

    /// A buffer in `memory`, which the owner keeps for the buffer's life.
    init(inline memory: UnsafeMutableRawBufferPointer) {
        base = memory.baseAddress!.assumingMemoryBound(to: UInt8.self)
        capacity = memory.count
        isInline = true
    }

    deinit { if !isInline { free(base) } }

    /// Bytes of malloc the buffer holds (0 while inline).
    var mallocByteCount: Int { isInline ? 0 : capacity }

    /// Frees the memory and leaves the buffer empty, with no room (a
    /// released port's).
    mutating func release() {
        if !isInline { free(base) }
        isInline = true
        capacity = 0
        start = 0
        end = 0
    }

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
        // Out of an owner's short buffer, at 256 bytes at once.
        var newCapacity = isInline ? max(capacity, 256) : capacity
        while newCapacity - unread < byteCount { newCapacity = newCapacity > Int.max / 2 ? Int.max : newCapacity * 2 }
        if isInline {
            guard let memory = malloc(newCapacity) else { preconditionFailure("malloc(\(newCapacity)) failed") }
            if unread > 0 { memcpy(memory, base, unread) }
            base = memory.assumingMemoryBound(to: UInt8.self)
            isInline = false
        } else {
            guard let memory = realloc(base, newCapacity) else {
                preconditionFailure("realloc(\(newCapacity)) failed")
            }
            base = memory.assumingMemoryBound(to: UInt8.self)
        }
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
        guard !isInline, capacity > 4 * baseline, count <= baseline else { return }
        let unread = count
        if unread > 0 && start > 0 { memmove(base, base + start, unread) }
        start = 0
        end = unread
        guard let memory = realloc(base, baseline) else { return }
        base = memory.assumingMemoryBound(to: UInt8.self)
        capacity = baseline
    }
}
