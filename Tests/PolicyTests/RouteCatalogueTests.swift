import Testing

@testable import Policy

@Suite struct RouteCatalogueTests {
    @Test func loadsAllSeventyFiveRoutes() {
        #expect(RouteCatalogue.v1.routes.count == 75)
    }
}
