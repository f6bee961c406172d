import BenchmarkSupport
import Testing

/// port-churn's ceiling: 1 / (c0 + X·Y/B).
@Suite struct CeilingTests {
    @Test func byteBudgetOfTheTrigger() {
        // c0 = 2 us; X = 40 ms; Y = 33,000 bytes; B = 11 MB: X·Y/B = 120 us.
        let ceiling = Ceiling(
            closedPortsPerSecond: 500_000, pauseSeconds: 0.040, bytesPerDroppedPort: 33_000,
            byteBudget: 11_000_000, ports: 1_000, collections: 3)
        #expect(ceiling.budgetSource == .trigger)
        #expect(abs(ceiling.collectionSecondsPerPort - 120e-6) < 1e-12, "\(ceiling.collectionSecondsPerPort)")
        #expect(abs(ceiling.portsPerSecond - 1 / 122e-6) < 1e-6, "\(ceiling.portsPerSecond)")
    }

    @Test func budgetObservedWithoutAByteRule() {
        // One collection per port (gc-every): B = Y, so the ceiling is 1 / (c0 + X).
        let ceiling = Ceiling(
            closedPortsPerSecond: 500_000, pauseSeconds: 0.040, bytesPerDroppedPort: 900, byteBudget: nil,
            ports: 250, collections: 250)
        #expect(ceiling.budgetSource == .observed)
        #expect(ceiling.budgetBytes == 900)
        #expect(abs(ceiling.portsPerSecond - 1 / 0.040002) < 1e-9, "\(ceiling.portsPerSecond)")
    }

    @Test func closedPortsAndNoCollectionsCostOnlyC0() {
        let closed = Ceiling(
            closedPortsPerSecond: 400_000, pauseSeconds: 0.040, bytesPerDroppedPort: nil, byteBudget: 8 << 20,
            ports: 1_000, collections: 2)
        #expect(closed.budgetBytes == nil && abs(closed.portsPerSecond - 400_000) < 1e-6, "\(closed)")
        let noCollections = Ceiling(
            closedPortsPerSecond: 400_000, pauseSeconds: nil, bytesPerDroppedPort: 900, byteBudget: nil,
            ports: 1_000, collections: 0)
        #expect(
            noCollections.budgetBytes == nil && abs(noCollections.portsPerSecond - 400_000) < 1e-6, "\(noCollections)")
    }
}
