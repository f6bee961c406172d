import CTestSupport
import TestSupport
import Testing

/// The tests' stack scrub clears what dead frames left below the caller.
@Suite struct StackScrubTests {
    static let word: UInt = 0x5EED_F00D_CAFE_0001

    @Test func scrubClearsAPlantedWord() {
        ctest_plant_word(Self.word)
        let left = ctest_count_word(Self.word)
        ctest_plant_word(Self.word)
        scrubStack()
        let afterScrub = ctest_count_word(Self.word)
        // Without a scrub the planted copies are found: the check can fail.
        #expect(left >= 16, "only \(left) planted copies found without a scrub")
        #expect(afterScrub == 0, "\(afterScrub) planted copies left after the scrub")
    }

    /// The scrub it replaces: a Swift buffer of 32 KiB, which Swift places
    /// on the heap, so the planted word stays.
    @Test func aSwiftTemporaryBufferDoesNotScrub() {
        ctest_plant_word(Self.word)
        withUnsafeTemporaryAllocation(of: UInt.self, capacity: 4096) { $0.initialize(repeating: 0) }
        let left = ctest_count_word(Self.word)
        #expect(left >= 16, "a Swift temporary buffer cleared the stack: \(left) copies left")
    }
}
