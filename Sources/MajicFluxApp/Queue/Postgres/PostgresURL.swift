import Foundation
import PostgresNIO

/// A `postgres://user:password@host:port/database?sslmode=...` connection string, parsed once.
///
/// `redacted` is the form every message shows: the password replaced by `***`, so errors and logs
/// never leak it. `sslmode` is `disable`, `prefer` (the default: TLS when the server offers it) or
/// `require`; `?host=/path/to/socket/dir` connects through a unix socket, as libpq does.
struct PostgresURL: Sendable, CustomStringConvertible {
    var host: String
    var port: Int
    var user: String
    var password: String?
    var database: String
    var sslMode: SSLMode
    /// A unix socket folder (libpq's `host=/dir`), used instead of TCP.
    var socketDirectory: String?

    enum SSLMode: String, Sendable { case disable, prefer, require }

    /// The string as given, with the password replaced by `***`.
    let redacted: String

    var description: String { redacted }

    /// Whether the password was written in the URL itself: on a command line every user of the
    /// machine sees it (`ps`), so `serve` and `worker` advise PGPASSWORD or ~/.pgpass instead.
    private(set) var passwordInURL = false
    /// What `serve` and `worker` tell the user about where the password came from (or did not).
    private(set) var notes: [String] = []

    /// The note `serve` and `worker` print when the password is in the URL on their command line.
    static let passwordNote = "note: the password in --queue is visible to every user of this machine (ps); PGPASSWORD or ~/.pgpass keep it off the command line"

    /// Parses `string`; throws a `QueueURLError` naming what is wrong (with the password hidden).
    /// A URL without a password takes it as libpq does: from `PGPASSWORD`, else from the password
    /// file (`PGPASSFILE`, default `~/.pgpass`; `environment` stands in for the process's in tests).
    init(_ string: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        guard let c = URLComponents(string: string), let scheme = c.scheme?.lowercased(),
              scheme == "postgres" || scheme == "postgresql" else {
            let shown = Self.redact(string)
            throw QueueURLError("not a PostgreSQL URL: \(shown) (expected postgres://user:password@host:port/database)")
        }
        var shown = c
        if c.password != nil { shown.percentEncodedPassword = "***" }
        redacted = shown.string ?? Self.redact(string)
        let items = Dictionary((c.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { $1 })
        host = c.host.map { $0.hasPrefix("[") ? String($0.dropFirst().dropLast()) : $0 } ?? ""
        if let h = items["host"], h.hasPrefix("/") { socketDirectory = h }
        if host.isEmpty && socketDirectory == nil { host = "127.0.0.1" }
        port = c.port ?? Int(items["port"] ?? "") ?? 5432
        guard (1...65535).contains(port) else { throw QueueURLError("\(redacted): port \(port) is out of range") }
        user = c.user ?? items["user"] ?? environment["USER"] ?? "postgres"
        password = c.password ?? items["password"]
        passwordInURL = password != nil
        let path = c.path.hasPrefix("/") ? String(c.path.dropFirst()) : c.path
        database = path.isEmpty ? user : path
        if password == nil { password = environment["PGPASSWORD"].flatMap { $0.isEmpty ? nil : $0 } }
        if password == nil, let file = environment["PGPASSFILE"] ?? environment["HOME"].map({ $0 + "/.pgpass" }) {
            // libpq names a socket connection "localhost" in the file.
            let found = PostgresPasswordFile.password(in: file, host: socketDirectory == nil ? host : "localhost",
                                                      port: port, database: database, user: user)
            password = found.password
            notes += found.note.map { [$0] } ?? []
        }
        if passwordInURL { notes.append(Self.passwordNote) }
        guard let mode = SSLMode(rawValue: items["sslmode"] ?? "prefer") else {
            throw QueueURLError("\(redacted): sslmode must be disable, prefer or require, got \(items["sslmode"] ?? "")")
        }
        sslMode = mode
    }

    /// A best-effort redaction for strings URLComponents cannot parse: `:secret@` -> `:***@`.
    static func redact(_ s: String) -> String {
        guard let at = s.lastIndex(of: "@"), let scheme = s.range(of: "://"),
              let colon = s[scheme.upperBound..<at].firstIndex(of: ":") else { return s }
        return String(s[..<s.index(after: colon)]) + "***" + String(s[at...])
    }

    /// The pool's configuration.
    func clientConfiguration() throws -> PostgresClient.Configuration {
        var config: PostgresClient.Configuration
        if let socketDirectory {
            config = .init(unixSocketPath: "\(socketDirectory)/.s.PGSQL.\(port)", username: user, password: password, database: database)
        } else {
            let tls: PostgresClient.Configuration.TLS
            switch sslMode {
            case .disable: tls = .disable
            case .prefer: tls = .prefer(.makeClientConfiguration())
            case .require: tls = .require(.makeClientConfiguration())
            }
            config = .init(host: host, port: port, username: user, password: password, database: database, tls: tls)
        }
        config.options.connectTimeout = .seconds(10)
        config.options.maximumConnections = 16
        return config
    }

    /// A single connection's configuration (schema migrations, LISTEN).
    func connectionConfiguration() throws -> PostgresConnection.Configuration {
        if let socketDirectory {
            return .init(unixSocketPath: "\(socketDirectory)/.s.PGSQL.\(port)", username: user, password: password, database: database)
        }
        let tls: PostgresConnection.Configuration.TLS
        switch sslMode {
        case .disable: tls = .disable
        case .prefer: tls = .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
        case .require: tls = .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
        }
        return .init(host: host, port: port, username: user, password: password, database: database, tls: tls)
    }
}

/// A queue URL that cannot be used, or a database that cannot be reached; the message names the URL
/// without its password and says what to do.
struct QueueURLError: Error, CustomStringConvertible, LocalizedError {
    let description: String
    /// The server could not be reached or did not answer (worth trying again shortly), as opposed
    /// to a refusal of what was asked.
    var unreachable = false
    init(_ message: String, unreachable: Bool = false) {
        description = message
        self.unreachable = unreachable
    }
    var errorDescription: String? { description }
}

extension PostgresURL {
    /// What went wrong talking to the server at this URL, in words: PostgresNIO's own errors print a
    /// generic text on purpose (no secrets), so the useful parts are taken out here (the server's
    /// message, the socket error), never the password.
    func explain(_ error: any Error, doing what: String) -> QueueURLError {
        QueueURLError("PostgreSQL at \(redacted): \(what) failed: \(Self.reason(error))",
                      unreachable: (error as? QueueURLError)?.unreachable ?? Self.isUnreachable(error))
    }

    /// Whether `error` says the server cannot be reached or went away (not a refusal of the query):
    /// the store then fails fast until it answers again (`PostgresOutage`).
    static func isUnreachable(_ error: any Error) -> Bool {
        if let e = error as? PostgresTransactionError {
            return [e.closureError, e.beginError, e.commitError].contains { $0.map(isUnreachable) ?? false }
        }
        if let p = error as? PSQLError {
            // SQLSTATE class 08 (connection exception) and 57P01-57P03 (shutting down, cannot connect now).
            if let state = p.serverInfo?[.sqlState] { return state.hasPrefix("08") || ["57P01", "57P02", "57P03"].contains(state) }
            return [.connectionError, .serverClosedConnection, .uncleanShutdown].contains(p.code)
        }
        return String(describing: error).contains("connectionCreationCircuitBreakerTripped")
    }

    static func reason(_ error: any Error) -> String {
        if let e = error as? QueueURLError { return e.description }
        if let e = error as? PostgresTransactionError {
            return reason(e.closureError ?? e.beginError ?? e.commitError ?? e.rollbackError ?? QueueURLError("a transaction failed"))
        }
        guard let p = error as? PSQLError else {
            // postgres-nio's pool (module _ConnectionPoolModule, not imported here) says only
            // "ConnectionPoolError(base: connectionCreationCircuitBreakerTripped)" when no connection
            // could be made for a while: the server is down or unreachable.
            let text = String(describing: error)
            if text.contains("connectionCreationCircuitBreakerTripped") {
                return "cannot connect: no connection could be made for a while (is the server running and the host/port right?)"
            }
            if text.contains("ConnectionPoolError") && text.contains("poolShutdown") { return "the connection pool is closed" }
            return text
        }
        if let info = p.serverInfo, let message = info[.message] {
            let code = info[.sqlState].map { " (SQLSTATE \($0))" } ?? ""
            let detail = info[.detail].map { "; \($0)" } ?? ""
            return message + code + detail
        }
        var text: String
        switch p.code {
        case .connectionError: text = "cannot connect (is the server running and the host/port right?)"
        case .serverClosedConnection: text = "the server closed the connection"
        case .authMechanismRequiresPassword: text = "the server asks for a password and none was given (in the URL, PGPASSWORD or ~/.pgpass)"
        case .sslUnsupported: text = "the server does not offer TLS (sslmode=require)"
        case .poolClosed: text = "the connection pool is closed"
        default: text = "\(p.code)"
        }
        if let u = p.underlying { text += ": \(u)" }
        return text
    }
}
