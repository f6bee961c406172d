/// One churn configuration of port-churn's Swift side: which the driver
/// offers and its child process runs.
public enum ChurnConfig: String, CaseIterable, Sendable {
    /// Lazy vacuum of the open-ports table, no foreign-memory accounting: the old leak.
    case lazy
    /// Eager vacuum (after every collection) only.
    case eager
    /// Accounting only (lazy vacuum).
    case accounted
    /// Eager vacuum and accounting: the library's defaults.
    case both
    /// A forced collection every iteration: the old workaround.
    case gcEvery = "gc-every"
    /// Every port closed by hand: the floor.
    case closed
    /// Every port closed by hand and the foreign-memory trigger off: the
    /// floor without the collections the accounting asks for (not in the
    /// default set).
    case closedRaw = "closed-raw"
    /// The seed's design: the open-ports table keeps a libgc disappearing
    /// link per port and is vacuumed from a post-GC hook driven by a
    /// resurrecting finalizer; accounting as in `both`.
    case seed

    /// The configurations run by default.
    public static let defaults: [ChurnConfig] = [.lazy, .eager, .accounted, .both, .seed, .gcEvery, .closed]
}
