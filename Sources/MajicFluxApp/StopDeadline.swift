import Dispatch
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The stop of a long-running command (`serve`, `worker`): the first SIGINT or SIGTERM starts the
/// graceful stop (the service group's: running jobs go back to the queue), a second one ends the
/// process at once, and so does a graceful stop still going after `limit` seconds. A stop that
/// hangs (a database that does not answer, a step that never ends) never leaves a process that
/// Ctrl-C or `kill` cannot end.
enum StopDeadline {
    /// How long a graceful stop may take: a CPU worker finishes the step it is in first.
    static let limit = 120.0
    private static let lock = NSLock()
    // unchecked: only touched under `lock`.
    nonisolated(unsafe) private static var sources: [any DispatchSourceSignal] = []
    nonisolated(unsafe) private static var signals = 0

    /// Watches SIGINT and SIGTERM from now on, beside the service group's own handling. `what`
    /// names the process in the messages ("majicflux serve").
    static func arm(_ what: String, limit: Double = limit) {
        lock.withLock {
            guard sources.isEmpty else { return }
            for sig in [SIGINT, SIGTERM] {
                // Dispatch sees the signal only when its default action (ending the process) is off;
                // the service group does the same for its own sources.
                signal(sig, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
                source.setEventHandler { received(sig, what, limit) }
                source.resume()
                sources.append(source)
            }
        }
    }

    /// A server's log pipe that closes must not end it (SIGPIPE's default action): its writes then
    /// fail quietly (`Console`). Called first thing by `serve` and `worker`.
    static func surviveClosedLogPipes() { signal(SIGPIPE, SIG_IGN) }

    private static func received(_ sig: Int32, _ what: String, _ limit: Double) {
        let count = lock.withLock { () -> Int in
            signals += 1
            return signals
        }
        if count == 1 {
            Console.info("\(what): stopping (a second Ctrl-C or SIGTERM ends it at once)")
            DispatchQueue.global().asyncAfter(deadline: .now() + limit) {
                Console.info("\(what) did not stop within \(Int(limit)) s of the signal; ending it now (a job it held goes back to the queue when its lease runs out)")
                _exit(1)
            }
        } else {
            // _exit: other threads may hold locks that exit()'s handlers would wait for.
            Console.info("\(what): second signal, ending now")
            _exit(128 + sig)
        }
    }
}
