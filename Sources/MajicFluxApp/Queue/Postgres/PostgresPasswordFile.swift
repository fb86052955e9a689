import Foundation

/// libpq's password file (`~/.pgpass`, or `PGPASSFILE`): lines `host:port:database:user:password`,
/// `*` matching anything, `\:` and `\\` escaping, `#` comments, the first matching line wins. As
/// libpq does, a file that others can read is not used (with a note: it would hand them the password).
enum PostgresPasswordFile {
    /// The password for a connection (nil when the file does not exist, is not used or no line
    /// matches) and a note for the user when the file is there but not used.
    static func password(in path: String, host: String, port: Int, database: String, user: String) -> (password: String?, note: String?) {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path) else { return (nil, nil) }
        let mode = (attributes[.posixPermissions] as? NSNumber)?.intValue ?? 0
        guard mode & 0o077 == 0 else {
            return (nil, "note: password file \(path) is not used: other users can read it (mode \(String(mode, radix: 8))); chmod 600 it, as libpq asks")
        }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            return (nil, "note: password file \(path) is not used: it cannot be read as text")
        }
        let wanted = [host, String(port), database, user]
        for line in text.split(whereSeparator: \.isNewline) where !line.hasPrefix("#") {
            let fields = split(line)
            guard fields.count >= 5 else { continue }
            if zip(fields.prefix(4), wanted).allSatisfy({ $0 == "*" || $0 == $1 }) { return (fields[4], nil) }
        }
        return (nil, nil)
    }

    /// One line's fields: `:` separates, a backslash makes the next character plain (a password
    /// ends at an unescaped `:`, as in libpq).
    static func split(_ line: Substring) -> [String] {
        var fields: [String] = [], field = "", escaped = false
        for ch in line {
            if escaped { field.append(ch); escaped = false }
            else if ch == "\\" { escaped = true }
            else if ch == ":" { fields.append(field); field = "" }
            else { field.append(ch) }
        }
        fields.append(field)
        return fields
    }
}
