/// The MajicFlux release this code is: what `majicflux --version` prints and the A1111 API reports.
/// Raise it with each release (the library and the command line share it).
public enum MajicFluxVersion {
    public static let current = "0.1.0"
}
