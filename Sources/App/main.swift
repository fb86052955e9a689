import MajicFluxApp

// All of the command line and the web console live in the MajicFluxApp library (tests start the server from it).
await MajicFluxCLI.main()
