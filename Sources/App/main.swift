import MajicFluxApp
import Tensor

// First, before other threads start: OpenBLAS takes its core and thread timeout from the environment.
OpenBLASSetup.prepareProcess()
// All of the command line and the web console live in the MajicFluxApp library (tests start the server from it).
await MajicFluxCLI.main()
