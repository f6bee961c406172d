import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The one-word cells that `GCRoot`s keep their objects in.
///
/// Cells come from slabs of malloc'd memory, each registered once with the
/// collector as a root range (GC_add_roots), so a live cell keeps its object
/// alive. They are not GC heap memory: taking a cell never counts against the
/// heap limit and never fails there, so `GCRoot(byteCount:)` at the limit
/// throws `outOfMemory` for the object and never traps for its cell. A free
/// cell holds the next free cell's address (malloc memory, which the
/// collector ignores). Slabs double from 1,024 cells to 65,536 and are never
/// freed: libgc keeps at most 2,048 root ranges (MAX_ROOT_SETS in 8.2.2's
/// gc_priv.h), and 16 slabs already hold a million roots.
internal final class RootCells: Sendable {
    static let shared = RootCells()

    typealias Cell = UnsafeMutablePointer<UnsafeMutableRawPointer?>

    private struct State {
        /// Address of the first free cell, 0 if none (an integer, so the
        /// state is Sendable).
        var free: UInt = 0
        var nextSlabCells = 1_024
        var slabs = 0
        var live = 0
    }
    // Cells are raw memory shared with the collector; the free list and the
    // counters are only touched under this lock.
    private let state = Lock(State())

    /// A cell holding `object`. The caller keeps `object` reachable (on its
    /// stack) until this returns.
    func acquire(holding object: UnsafeMutableRawPointer) -> Cell {
        let address = state.withLock { state -> UInt in
            if state.free == 0 { addSlab(&state) }
            let cell = Cell(bitPattern: state.free).unsafelyUnwrapped
            state.free = UInt(bitPattern: cell.pointee)
            cell.pointee = object
            state.live += 1
            return UInt(bitPattern: cell)
        }
        return Cell(bitPattern: address).unsafelyUnwrapped
    }

    /// Returns a cell; its object is no longer rooted by it.
    func release(_ cell: Cell) {
        let address = UInt(bitPattern: cell)
        state.withLock { state in
            let cell = Cell(bitPattern: address).unsafelyUnwrapped
            cell.pointee = UnsafeMutableRawPointer(bitPattern: state.free)
            state.free = address
            state.live -= 1
        }
    }

    /// Made with the runtime (see ``Runtime``).
    func prepare() {}

    /// Cells in use (a test hook).
    var liveCount: Int { state.withLock { $0.live } }

    private func addSlab(_ state: inout State) {
        let count = state.nextSlabCells
        let size = count * MemoryLayout<UnsafeMutableRawPointer?>.stride
        guard let raw = calloc(count, MemoryLayout<UnsafeMutableRawPointer?>.stride) else {
            preconditionFailure("malloc refused \(size) bytes for GC root cells")
        }
        let slab = raw.bindMemory(to: UnsafeMutableRawPointer?.self, capacity: count)
        // Thread the new cells onto the free list, last first.
        for i in 0..<count {
            slab[i] =
                i + 1 < count ? UnsafeMutableRawPointer(slab + i + 1) : UnsafeMutableRawPointer(bitPattern: state.free)
        }
        libgc_addRoots(raw, byteCount: size)
        state.free = UInt(bitPattern: slab)
        state.slabs += 1
        state.nextSlabCells = min(count * 2, 65_536)
    }
}
