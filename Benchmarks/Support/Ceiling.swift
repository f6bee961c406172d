/// The most ports per second the arithmetic allows a port-churn
/// configuration.
///
/// A dropped port costs at least what a closed one costs, c0, plus its share
/// of the collection that finds it: X·Y/B, where X is the mean pause of a
/// collection, Y the bytes the port holds until then (foreign and GC) and B
/// the bytes that pile up between collections (B/Y ports share each
/// collection): the foreign-memory trigger's budget when the trigger runs
/// the collections, else the bytes observed per collection. So no configuration passes 1 / (c0 + X·Y/B) ports per
/// second. c0 is `closed`'s time per port in the same run at the same
/// ballast; X, Y and B are the configuration's own, measured in its child.
public struct Ceiling: Sendable, Equatable {
    /// Where B comes from.
    public enum BudgetSource: String, Sendable {
        /// The accounting's byte budget (a trigger with a byte rule).
        case trigger
        /// For a trigger without a byte rule, or one that ran few of the
        /// collections: the bytes of the ports dropped per collection the
        /// run had (Y · ports / collections).
        case observed
    }

    /// c0: seconds per closed port.
    public var closedSeconds: Double
    /// X: the mean collection pause, in seconds; nil without collections.
    public var pauseSeconds: Double?
    /// Y: bytes a dropped port holds, foreign and GC; nil for runs that
    /// close every port.
    public var bytesPerDroppedPort: Double?
    /// B: bytes between collections.
    public var budgetBytes: Double?
    public var budgetSource: BudgetSource?

    /// The ceiling of a run.
    ///
    /// - Parameters:
    ///   - closedPortsPerSecond: `closed`'s speed in the same run and ballast.
    ///   - pauseSeconds: X.
    ///   - bytesPerDroppedPort: Y; nil when the run closes its ports.
    ///   - byteBudget: B, the trigger's budget; nil when the trigger has no
    ///     byte rule, and then B is observed from `ports` and `collections`.
    public init(
        closedPortsPerSecond: Double, pauseSeconds: Double?, bytesPerDroppedPort: Double?, byteBudget: Int?,
        ports: Int, collections: Int
    ) {
        closedSeconds = 1 / closedPortsPerSecond
        self.pauseSeconds = pauseSeconds
        self.bytesPerDroppedPort = bytesPerDroppedPort
        guard let bytesPerDroppedPort else { return }
        if let byteBudget {
            (budgetBytes, budgetSource) = (Double(byteBudget), .trigger)
        } else if collections > 0 {
            (budgetBytes, budgetSource) = (bytesPerDroppedPort * Double(ports) / Double(collections), .observed)
        }
    }

    /// X·Y/B: seconds of collection per dropped port (0 when a term is
    /// missing: no collections, no dropped ports).
    public var collectionSecondsPerPort: Double {
        guard let pauseSeconds, let bytesPerDroppedPort, let budgetBytes, budgetBytes > 0 else { return 0 }
        return pauseSeconds * bytesPerDroppedPort / budgetBytes
    }

    /// 1 / (c0 + X·Y/B).
    public var portsPerSecond: Double { 1 / (closedSeconds + collectionSecondsPerPort) }
}
