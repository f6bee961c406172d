/// The one-word cells that ``GCRoot`` and ``GCHandle`` keep their objects
/// in: malloc'd slabs registered once as root ranges, handed out from a free
/// list per thread (the C shim's roots.c says why and how).
internal enum RootCells {
    typealias Cell = UnsafeMutablePointer<UnsafeMutableRawPointer?>

    /// A cell holding `object`.
    ///
    /// The caller keeps `object` reachable (on its stack) until this returns.
    ///
    /// - Precondition: malloc can provide a new slab when needed.
    @inline(__always)
    static func take(holding object: UnsafeMutableRawPointer) -> Cell {
        guard let cell = shim_rootTake(object) else {
            preconditionFailure("malloc refused memory for GC root cells")
        }
        return cell
    }

    /// Gives a cell back; its object is no longer rooted by it.
    @inline(__always)
    static func give(_ cell: Cell) {
        shim_rootGive(cell)
    }
}
