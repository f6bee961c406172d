#if canImport(Glibc)
    import Glibc
#endif

/// One RSS sample of a run.
struct Sample {
    var ports: Int
    var seconds: Double
    var rssBytes: Int
}

/// What a child (Swift or Guile) reported, and the figures derived from it.
struct RunResult {
    /// `both`, `closed`, ..., or `guile-string-dropped` etc.
    var config: String
    var ballastMB: Int
    /// The trigger policy of a policy-table run, `nil` otherwise.
    var policy: String?
    var isPeer: Bool
    var samples: [Sample] = []
    var fields: [String: String] = [:]
    var error: String?

    /// A label for tables, the CSV and the plot.
    var label: String { policy.map { "\(config)[\($0)]" } ?? config }

    func integer(_ key: String) -> Int? { fields[key].flatMap { Int($0) } }
    var ports: Int { integer("ports") ?? samples.last?.ports ?? 0 }
    var seconds: Double { fields["seconds"].flatMap { Double($0) } ?? samples.last?.seconds ?? 0 }
    var portsPerSecond: Double { seconds > 0 ? Double(ports) / seconds : 0 }
    var peakRSS: Int { integer("peak_rss") ?? samples.map(\.rssBytes).max() ?? 0 }
    var endRSS: Int { samples.last?.rssBytes ?? 0 }

    /// RSS at 10% of the run's ports: the first sample at or past it.
    var rssAt10Percent: Int {
        let mark = Double(ports) * 0.1
        return samples.first { Double($0.ports) >= mark && $0.ports > 0 }?.rssBytes ?? endRSS
    }

    /// Least-squares slope of RSS against ports from 10% of the run to its
    /// end, in bytes per 100,000 ports (the first 10% is warm-up: heap growth
    /// to its working size).
    var rssSlopePer100k: Double {
        let mark = Double(ports) * 0.1
        let points = samples.filter { Double($0.ports) >= mark }
        guard points.count >= 3 else { return 0 }
        let n = Double(points.count)
        let meanX = points.reduce(0) { $0 + Double($1.ports) } / n
        let meanY = points.reduce(0) { $0 + Double($1.rssBytes) } / n
        var sxy = 0.0
        var sxx = 0.0
        for point in points {
            let dx = Double(point.ports) - meanX
            sxy += dx * (Double(point.rssBytes) - meanY)
            sxx += dx * dx
        }
        return sxx > 0 ? sxy / sxx * 100_000 : 0
    }
}

/// Spawns children and collects their records.
enum Runner {
    /// Runs `arguments[0]` with `arguments`, reads its records until it exits.
    ///
    /// - Parameter progress: called for every sample (for the terminal).
    /// - Parameter timeLimit: seconds after which the child is killed (a
    ///   hung run must not hang CI); `nil` for none.
    static func run(
        _ arguments: [String], into result: inout RunResult, quietStderr: Bool = false,
        timeLimit: Double? = nil, progress: (RunResult) -> Void
    ) {
        var pipeFDs: [Int32] = [0, 0]
        guard pipe(&pipeFDs) == 0 else {
            result.error = "pipe: \(String(cString: strerror(errno)))"
            return
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, pipeFDs[1], 1)
        posix_spawn_file_actions_addclose(&actions, pipeFDs[0])
        posix_spawn_file_actions_addclose(&actions, pipeFDs[1])
        if quietStderr {
            posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        }
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let status = posix_spawn(&pid, arguments[0], &actions, nil, &argv, environ)
        close(pipeFDs[1])
        guard status == 0 else {
            close(pipeFDs[0])
            result.error = "cannot start \(arguments[0]): \(String(cString: strerror(status)))"
            return
        }
        var pending: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        let killTime = timeLimit.map { System.now() + $0 }
        var killed = false
        while true {
            if let killTime {
                var poller = pollfd(fd: pipeFDs[0], events: Int16(POLLIN), revents: 0)
                let ready = poll(&poller, 1, 1000)
                if ready == 0 || (ready < 0 && errno == EINTR) {
                    if !killed && System.now() > killTime {
                        kill(pid, SIGKILL)
                        killed = true
                    }
                    continue
                }
            }
            let count = buffer.withUnsafeMutableBytes { read(pipeFDs[0], $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { break }
            pending.append(contentsOf: buffer[0..<count])
            while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: pending[..<newline], as: UTF8.self)
                pending.removeSubrange(...newline)
                if parse(line, into: &result) { progress(result) }
            }
        }
        close(pipeFDs[0])
        var waitStatus: Int32 = 0
        while waitpid(pid, &waitStatus, 0) < 0 && errno == EINTR {}
        let exited = waitStatus & 0x7f == 0
        let code = (waitStatus >> 8) & 0xff
        if killed {
            result.error = "killed after the time limit (\(fixed(timeLimit ?? 0, 0)) s)"
        } else if result.error == nil && (!exited || code != 0) {
            result.error = exited ? "exited with status \(code)" : "killed by signal \(waitStatus & 0x7f)"
        }
        if result.error == nil && result.fields.isEmpty {
            result.error = "no result record"
        }
    }

    /// Applies one record; returns whether it was a sample.
    private static func parse(_ line: String, into result: inout RunResult) -> Bool {
        let words = line.split(separator: " ")
        guard let kind = words.first else { return false }
        switch kind {
        case "sample" where words.count == 4:
            if let ports = Int(words[1]), let seconds = Double(words[2]), let rss = Int(words[3]) {
                result.samples.append(Sample(ports: ports, seconds: seconds, rssBytes: rss))
                return true
            }
        case "result":
            for word in words.dropFirst() {
                let pair = word.split(separator: "=", maxSplits: 1)
                if pair.count == 2 { result.fields[String(pair[0])] = String(pair[1]) }
            }
        case "error":
            result.error = String(line.dropFirst("error ".count))
        default:
            break
        }
        return false
    }
}
