import XCTest
import Models

/// Sigma schedules against diffusers' FlowMatchEulerDiscreteScheduler as FluxPipeline drives it
/// (fixture from Tools/make_scheduler_fixtures.py). dev and schnell must be bit-identical;
/// DiffSynth's schedule (torch.linspace in float32) within 2 ulp.
final class FlowMatchScheduleTests: XCTestCase {
    struct Case: Decodable { let steps: Int; let seq: Int?; let sigmas: [UInt32]; let model_t: [UInt32]? }
    struct Fixture: Decodable { let dev: [Case]; let schnell: [Case]; let diffsynth: [Case] }

    func fixture() throws -> Fixture {
        let url = Bundle.module.url(forResource: "Fixtures/scheduler", withExtension: "json")!
        return try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
    }

    func testDevDynamicShiftIsBitExact() throws {
        for c in try fixture().dev {
            let s = FlowMatchSchedule(steps: c.steps, imageSeqLen: c.seq!, config: .fluxDev)
            XCTAssertEqual(s.sigmas.map(\.bitPattern), c.sigmas, "steps \(c.steps) seq \(c.seq!)")
            XCTAssertEqual((0..<s.steps).map { s.modelTimestep($0).bitPattern }, c.model_t!)
        }
    }

    func testSchnellIsUnshiftedLinspace() throws {
        for c in try fixture().schnell {
            let s = FlowMatchSchedule(steps: c.steps, imageSeqLen: 4096, config: .fluxSchnell)
            XCTAssertEqual(s.sigmas.map(\.bitPattern), c.sigmas, "steps \(c.steps)")
        }
    }

    func testDiffSynthStaticShiftWithinTwoUlp() throws {
        for c in try fixture().diffsynth {
            let s = FlowMatchSchedule(diffSynthSteps: c.steps)
            XCTAssertEqual(s.sigmas.count, c.sigmas.count)
            for (a, b) in zip(s.sigmas, c.sigmas) {
                XCTAssertLessThanOrEqual(abs(Int(a.bitPattern) - Int(b)), 2, "steps \(c.steps): \(a) vs \(Float(bitPattern: b))")
            }
        }
    }

    func testSchedulerConfigParsesDiffusersJSON() throws {
        let json = #"{"_class_name": "FlowMatchEulerDiscreteScheduler", "base_image_seq_len": 256, "base_shift": 0.5, "max_image_seq_len": 4096, "max_shift": 1.15, "num_train_timesteps": 1000, "shift": 3.0, "use_dynamic_shifting": true}"#
        let c = try JSONDecoder().decode(FlowMatchSchedulerConfig.self, from: Data(json.utf8))
        XCTAssertEqual(c, .fluxDev)
        let path = NSTemporaryDirectory() + "/missing-\(UUID())/scheduler_config.json"
        XCTAssertThrowsError(try FlowMatchSchedulerConfig.load(path: path)) { e in
            XCTAssertTrue("\(e)".contains(path))
        }
    }
}
