import Foundation
import XCTest

/// The console page steps the browser tests share: open it, generate from the form, reuse a history entry.
extension ChromeDevTools {
    /// Attaches to the page, opens the console and waits for its model to be ready.
    func openConsole(_ console: TestConsole) async throws {
        try await attachToPage()
        try await call("Page.enable")
        try await call("Runtime.enable")
        try await call("Page.navigate", ["url": console.base + "/"])
        try await waitFor("document.readyState === 'complete' && document.getElementById('model-status').classList.contains('ready')", timeout: 30)
    }

    /// Sets the prompt, clicks generate, waits until the history holds `historyCount` entries; returns
    /// the result picture's URL.
    func generate(prompt: String, historyCount: Int) async throws -> String {
        _ = try await evaluate("document.getElementById('prompt').value = \(Self.quoted(prompt))")
        try await click(selector: "#generate")
        try await waitFor("document.querySelectorAll('#history .item').length === \(historyCount)", timeout: 60)
        let src = try await evaluate("document.getElementById('result-image').getAttribute('src')") as? String
        return try XCTUnwrap(src)
    }

    /// Clicks "reuse" on the history entry captioned `prompt`. The mark of an earlier call is removed
    /// first: while the history is not redrawn it would still stand on the other entry's button, and
    /// the click would go to whichever comes first (a flaky ConsoleHiresTests run in session 18).
    func reuseHistoryEntry(captioned prompt: String) async throws {
        _ = try await evaluate("""
            (() => { document.querySelectorAll('#reuse-this').forEach((e) => e.removeAttribute('id'));
                     [...document.querySelectorAll('#history .item')].find((i) => i.querySelector('.cap').textContent === \(Self.quoted(prompt))).querySelector('button').id = 'reuse-this'; })()
            """)
        try await click(selector: "#reuse-this")
    }
}
