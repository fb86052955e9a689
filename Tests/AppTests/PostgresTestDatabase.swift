import Foundation
import Logging
@testable import MajicFluxApp
import PostgresNIO
import XCTest

/// A fresh database on the PostgreSQL server of `MAJICFLUX_TEST_POSTGRES_URL` (scripts/ci-postgres.sh
/// starts one; .ci/run does), dropped by `drop()`. Tests that need one skip, with that message,
/// when the variable is not set.
struct PostgresTestDatabase: Sendable {
    static let variable = "MAJICFLUX_TEST_POSTGRES_URL"
    /// The new database's URL.
    let url: String
    let name: String
    private let admin: PostgresURL

    static func make(file: StaticString = #filePath, line: UInt = #line) async throws -> PostgresTestDatabase {
        guard let base = ProcessInfo.processInfo.environment[variable], !base.isEmpty else {
            throw XCTSkip("\(variable) is not set: no PostgreSQL server for this test (`source scripts/ci-postgres.sh && ci_postgres_start` starts one)",
                          file: file, line: line)
        }
        let admin = try PostgresURL(base)
        let name = "majicflux_t_" + String(UInt64.random(in: 0...UInt64.max), radix: 36)
        _ = try await withConnection(admin) { c in
            _ = try await c.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"), logger: logger).collect()
        }
        var components = URLComponents(string: base)!
        components.path = "/" + name
        return PostgresTestDatabase(url: components.string!, name: name, admin: admin)
    }

    /// Drops the database (its connections are ended first).
    func drop() async {
        _ = try? await Self.withConnection(admin) { c in
            _ = try await c.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(name) WITH (FORCE)"), logger: Self.logger).collect()
        }
    }

    /// Runs SQL on the test database directly (to check what the store wrote, or to age a lease).
    func sql(_ statement: String) async throws -> [PostgresRow] {
        try await Self.withConnection(try PostgresURL(url)) { c in
            try await c.query(PostgresQuery(unsafeSQL: statement), logger: Self.logger).collect()
        }
    }

    static let logger = Logger(label: "majicflux.test.postgres")

    private static func withConnection<T: Sendable>(_ url: PostgresURL, _ body: (PostgresConnection) async throws -> T) async throws -> T {
        let c = try await PostgresConnection.connect(configuration: try url.connectionConfiguration(), id: 1, logger: logger)
        do {
            let r = try await body(c)
            try? await c.close()
            return r
        } catch {
            try? await c.close()
            throw url.explain(error, doing: "test setup")
        }
    }
}
