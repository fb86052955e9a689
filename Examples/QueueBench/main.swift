import Foundation
import MajicFluxApp

// queue-bench: the job queue's own speed with a trivial job (no model), for BENCHMARKS.md: the
// PostgreSQL store and the embedded SQLite store (in a temporary folder), one after the other.
//   swift run -c release queue-bench --postgres postgres://user:pw@127.0.0.1:5432/bench [--workers 3] [--jobs 300] [--throughput-jobs 2000]
// The PostgreSQL database is emptied first: give it one of its own. Without --postgres (and without
// MAJICFLUX_TEST_POSTGRES_URL) only the SQLite store is measured.

func value(_ name: String) -> String? {
    let args = CommandLine.arguments
    guard let i = args.firstIndex(of: name), i + 1 < args.count else { return nil }
    return args[i + 1]
}

let workers = Int(value("--workers") ?? "") ?? 3
let latencyJobs = Int(value("--jobs") ?? "") ?? 300
let throughputJobs = Int(value("--throughput-jobs") ?? "") ?? 2000
let url = value("--postgres") ?? ProcessInfo.processInfo.environment["MAJICFLUX_TEST_POSTGRES_URL"]

func report(_ r: QueueBenchmark.Result) {
    let f = { (x: Double) in String(format: "%.2f", x) }
    print("\(r.store): \(r.workers) idle workers, \(r.latenciesMS.count) jobs one at a time: enqueue-to-start p50 \(f(r.percentile(50))) ms, p99 \(f(r.percentile(99))) ms, max \(f(r.latenciesMS.last ?? .nan)) ms")
    print("\(r.store): \(r.throughputJobs) jobs queued at once, \(r.workers) workers: \(f(r.jobsPerSecond)) jobs/s (enqueue + claim + complete with a 2 KB PNG and its history entry)")
}

do {
    if let url {
        report(try await QueueBenchmark.postgres(url: url, workers: workers, latencyJobs: latencyJobs, throughputJobs: throughputJobs))
    }
    report(try await QueueBenchmark.sqlite(directory: NSTemporaryDirectory(), workers: workers, latencyJobs: latencyJobs,
                                           throughputJobs: throughputJobs))
} catch {
    FileHandle.standardError.write(Data("queue-bench: \(error)\n".utf8))
    exit(1)
}
