import Foundation
import Hummingbird

/// A token bucket per client address: each request takes a token; tokens come back at
/// `limit.perSecond` up to `limit.burst`. A client with none left is answered 429 with the seconds
/// until its next token in `Retry-After`, without the request reaching any route.
// unchecked: `buckets` is only touched under `lock` (NSLock); the rest are `let`s.
final class RateLimiter: @unchecked Sendable {
    let limit: RateLimit
    /// Most clients remembered; beyond it, full buckets (clients idle long enough) are forgotten first.
    let maxClients: Int
    private let lock = NSLock()
    private var buckets: [String: (tokens: Double, time: Double)] = [:]

    init(limit: RateLimit, maxClients: Int = 10_000) {
        self.limit = limit
        self.maxClients = maxClients
    }

    /// nil when `client` may go ahead (a token is taken), else the seconds until it may.
    func take(_ client: String, now: Double = ProcessInfo.processInfo.systemUptime) -> Double? {
        lock.withLock {
            var b = buckets[client] ?? (limit.burst, now)
            b.tokens = min(limit.burst, b.tokens + (now - b.time) * limit.perSecond)
            b.time = now
            let wait: Double?
            if b.tokens >= 1 {
                b.tokens -= 1
                wait = nil
            } else {
                wait = (1 - b.tokens) / limit.perSecond
            }
            buckets[client] = b
            if buckets.count > maxClients { prune(now: now) }
            return wait
        }
    }

    /// Forgets clients whose bucket has refilled (they lose nothing), then the longest idle.
    private func prune(now: Double) {
        let full = limit.burst / max(limit.perSecond, 1e-9)
        buckets = buckets.filter { now - $0.value.time < full }
        if buckets.count > maxClients {
            for key in buckets.sorted(by: { $0.value.time < $1.value.time }).prefix(buckets.count - maxClients / 2).map(\.key) {
                buckets[key] = nil
            }
        }
    }
}

/// Applies `RateLimiter` by the client's address.
struct RateLimitMiddleware: RouterMiddleware {
    typealias Context = ConsoleRequestContext
    let limiter: RateLimiter

    func handle(_ request: Request, context: Context,
                next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let wait = limiter.take(context.clientAddress) else { return try await next(request, context) }
        let seconds = max(1, Int(wait.rounded(.up)))
        let message = "too many requests from \(context.clientAddress): this server allows \(RateLimiter.shown(limiter.limit.perSecond)) per second "
            + "(bursts of \(RateLimiter.shown(limiter.limit.burst))) per client; try again in \(seconds) s"
        var response = AuthMiddleware<Context>.errorAnswer(.tooManyRequests, message, path: request.uri.path)
        response.headers[.retryAfter] = String(seconds)
        return response
    }
}

extension RateLimiter {
    static func shown(_ v: Double) -> String { v == v.rounded() && v < 1e15 ? String(Int(v)) : String(v) }
}
