import ArgumentParser
import Models
import Tensor

/// The `majicflux` command line.
struct MajicFlux: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "majicflux",
        abstract: "Offline Flux image generation.",
        version: "majicflux \(MajicFluxVersion.current)",
        subcommands: [Generate.self, QuantizeCommand.self, Serve.self, WorkerCommand.self])
}

/// Entry point of the `majicflux` executable.
public enum MajicFluxCLI {
    /// Parses the process arguments and runs the chosen subcommand (exits the process on errors).
    public static func main() async { await MajicFlux.main() }
}
