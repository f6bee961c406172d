import BenchmarkSupport
import BoehmGC
import Testing

@Suite struct TriggerPolicyArgumentTests {
    typealias Policy = ForeignMemory.TriggerPolicy

    @Test func spellingsParse() {
        #expect(Policy(argument: "bytes") == .bytes())
        #expect(Policy(argument: "bytes:16m:0.5") == .bytes(floor: 16 << 20, heapFraction: 0.5))
        #expect(Policy(argument: "count:500") == .objectCount(500))
        #expect(Policy(argument: "interval:10ms") == .interval(.milliseconds(10)))
        #expect(Policy(argument: "interval:2s") == .interval(.seconds(2)))
        #expect(
            Policy(argument: "either:count:1000,interval:10ms")
                == .either([.objectCount(1000), .interval(.milliseconds(10))]))
        #expect(Policy(argument: "never") == .never)
        #expect(Policy(argument: "off") == .never)
    }

    @Test(arguments: [
        "", "bytes:x", "count:0", "count", "interval:10", "either:", "either:either:count:1", "sometimes",
    ])
    func badSpellingsAreRejected(_ spelling: String) {
        #expect(
            Policy(argument: spelling) == nil, "\(spelling) parsed as \(String(describing: Policy(argument: spelling)))"
        )
    }

    @Test func spellingsReadBack() {
        for policy: Policy in [
            .bytes(), .objectCount(7), .interval(.microseconds(250)), .never,
            .either([.objectCount(3), .interval(.milliseconds(1))]),
        ] {
            #expect(Policy(argument: policy.argument) == policy, "\(policy.argument)")
        }
    }
}
