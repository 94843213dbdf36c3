import Gateway

// Kept tiny on purpose: top-level code is MainActor-isolated; all logic lives in Gateway.
await GatewayCommand.run()
