import Foundation

/// Where majicflux keeps what it can remake but would rather not (compiled CUDA modules, checkpoint
/// hashes): `$MAJICFLUX_CACHE_DIR`, else `$XDG_CACHE_HOME/majicflux`, else `$HOME/.cache/majicflux`;
/// nil when none is set (nothing is cached on disk). An empty variable counts as unset.
public enum CacheFolder {
    public static var root: String? {
        func variable(_ name: String) -> String? {
            guard let v = getenv(name) else { return nil }
            let s = String(cString: v)
            return s.isEmpty ? nil : s
        }
        if let dir = variable("MAJICFLUX_CACHE_DIR") { return dir }
        if let xdg = variable("XDG_CACHE_HOME") { return xdg + "/majicflux" }
        if let home = variable("HOME") { return home + "/.cache/majicflux" }
        return nil
    }
}
