import Hummingbird

extension ConsoleServer {
    /// The shared-server middlewares, in order: the per-client rate limit (before any work), the
    /// `--cors-origin`'s preflights and headers (preflights carry no token), then the token check.
    func addSecurityMiddlewares(to router: Router<ConsoleRequestContext>) {
        let s = configuration.security
        if let limit = s.rateLimit { router.middlewares.add(RateLimitMiddleware(limiter: RateLimiter(limit: limit))) }
        if let origin = s.corsOrigin.flatMap(CORSPolicy.normalizedOrigin) { router.middlewares.add(CORSMiddleware(policy: CORSPolicy(origin: origin))) }
        if let tokens = s.authTokens { router.middlewares.add(AuthMiddleware(tokens: tokens)) }
    }
}
