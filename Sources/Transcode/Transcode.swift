// transcode: converts text between two iconv encodings through GCPorts'
// ports, as iconv(1) does: the input (FILE or standard input) is read by an
// input port in blocks of --chunk bytes, and written to standard output by
// an output port. For text both encodings can represent, the output is byte
// for byte what glibc's iconv(1) writes, whatever the block size. It is the
// ports' end-to-end test and a benchmark (Benchmarks/README.md).
import ArgumentParser
import GCPorts

#if canImport(Glibc)
    import Glibc
#endif

@main
struct Transcode: ParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            commandName: "transcode",
            abstract: "Convert text from one encoding to another through GCPorts' input and output ports.",
            discussion: """
                Reads FILE (or standard input) through an input port, writes standard output through an \
                output port. Input that is not valid in the FROM encoding stops the conversion with its \
                byte offset on standard error; a character TO cannot represent stops it with its line and \
                column (both from 1). Both exit with status 1, after writing the output converted before \
                the error. With -c both are skipped instead, as iconv -c does (an incomplete sequence at \
                the end of the input too, which iconv -c reports).
                """)
    }

    @Option(name: [.customShort("f"), .customLong("from-code")], help: "The input's encoding (an iconv name).")
    var from: String

    @Option(name: [.customShort("t"), .customLong("to-code")], help: "The output's encoding (an iconv name).")
    var to: String

    @Option(help: "Bytes asked of each read(2) of the input, 1 to 1073741824.")
    var chunk: Int = 1 << 16

    @Flag(name: .customShort("c"), help: "Omit invalid input and characters the output cannot represent.")
    var skipsInvalid = false

    @Argument(help: "The file to convert; standard input when absent.")
    var file: String?

    func validate() throws {
        guard Ports.bufferCapacityRange.contains(chunk) else {
            throw ValidationError("--chunk must be in 1...\(Ports.bufferCapacityRange.upperBound), not \(chunk)")
        }
    }

    func run() throws {
        var descriptor: Int32 = 0
        if let file {
            descriptor = open(file, O_RDONLY | O_CLOEXEC)
            guard descriptor >= 0 else { fail("cannot open \(file): \(String(cString: strerror(errno)))") }
        }
        let policy: InvalidInputPolicy = skipsInvalid ? .skip : .error
        let input: InputPort
        let output: OutputPort
        do {
            input = try InputPort.openFile(
                descriptor: descriptor, encoding: from, closesDescriptor: file != nil, bufferCapacity: chunk,
                invalidInput: policy)
        } catch PortError.unknownEncoding {
            fail("conversion from \(from.debugDescription) unsupported")
        }
        do {
            output = try OutputPort.openFile(
                descriptor: 1, encoding: to, bufferCapacity: 1 << 16, invalidInput: policy)
        } catch PortError.unknownEncoding {
            fail("conversion to \(to.debugDescription) unsupported")
        }
        while true {
            let text: [UInt8]
            do {
                guard let next = try input.readAvailableUTF8() else { break }
                text = next
            } catch .invalidInput(let offset) {
                try? output.close()
                fail("illegal input sequence at byte offset \(offset)")
            } catch {
                try? output.close()
                fail("cannot read the input: \(error)")
            }
            do {
                try write(text, to: output)
            } catch .invalidInput(let offset) {
                let (line, column) = position(after: text.prefix(offset), from: (output.line, output.column))
                let scalar = String(decoding: text.dropFirst(offset), as: UTF8.self).unicodeScalars.first
                // The rejected write wrote nothing: write what came before
                // the character, as iconv(1) does.
                try? output.write(String(decoding: text.prefix(offset), as: UTF8.self))
                try? output.close()
                let name = scalar.map { "U+" + String($0.value, radix: 16, uppercase: true) } ?? "?"
                fail("cannot convert \(name) to \(to) at line \(line + 1), column \(column + 1)")
            } catch {
                fail("cannot write the output: \(error)")
            }
        }
        do {
            try output.close()
        } catch {
            fail("cannot write the output: \(error)")
        }
        input.close()
    }
}

/// Writes UTF-8 `bytes` to `port`.
func write(_ bytes: [UInt8], to port: OutputPort) throws(PortError) {
    var failure: PortError?
    bytes.withUnsafeBytes { bytes in
        do throws(PortError) {
            try port.write(utf8Bytes: bytes)
        } catch {
            failure = error
        }
    }
    if let failure { throw failure }
}

/// Line and column (from 0) after `bytes` of UTF-8 text, from `start`, as
/// the ports count them (Guile's port-line and port-column).
func position(after bytes: some Sequence<UInt8>, from start: (Int, Int)) -> (Int, Int) {
    var (line, column) = start
    for byte in bytes {
        switch byte {
        case 0x0A: (line, column) = (line + 1, 0)
        case 0x0D: column = 0
        case 0x09: column += 8 - column % 8
        case 0x08: column = max(0, column - 1)
        case 0x07: break
        default: if byte & 0xC0 != 0x80 { column += 1 }
        }
    }
    return (line, column)
}

/// Prints `message` on standard error and exits with status 1.
func fail(_ message: String) -> Never {
    var line = "transcode: \(message)\n"
    line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
    exit(1)
}
