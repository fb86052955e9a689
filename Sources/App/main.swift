import ArgumentParser
import Tensor

/// The `majicflux` command line.
struct MajicFlux: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "majicflux",
        abstract: "Offline Flux image generation.",
        subcommands: [Generate.self, QuantizeCommand.self])
}

MajicFlux.main()
