import Foundation
import XCTest
import Tensor

/// The JSONValue parser and serializer used for safetensors headers and config files.
final class SafeTensorsJSONTests: XCTestCase {
    func testParsesEveryKindOfValue() throws {
        let v = try JSONValue.parse(#" {"a": [1, -2, 3.5, -0.25e2, 1E3, 0, true, false, null], "b": {"c": "d"}, "e": ""} "#)
        XCTAssertEqual(v["a"]?.array?.count, 9)
        XCTAssertEqual(v["a"]?[0], .int(1))
        XCTAssertEqual(v["a"]?[1]?.int, -2)
        XCTAssertEqual(v["a"]?[2]?.double, 3.5)
        XCTAssertNil(v["a"]?[2]?.int, "3.5 is not an integer")
        XCTAssertEqual(v["a"]?[3], .double(-25))
        XCTAssertEqual(v["a"]?[4], .double(1000), "exponent form stays a double")
        XCTAssertEqual(v["a"]?[0]?.double, 1, "ints read as doubles")
        XCTAssertEqual(v["a"]?[6]?.bool, true)
        XCTAssertEqual(v["a"]?[8]?.isNull, true)
        XCTAssertNil(v["a"]?[9])
        XCTAssertEqual(v["b"]?["c"]?.string, "d")
        XCTAssertEqual(v["e"], "")
        XCTAssertNil(v["zz"])
        XCTAssertEqual(try JSONValue.parse("9223372036854775807"), .int(Int.max))
        XCTAssertEqual(try JSONValue.parse("-9223372036854775808"), .int(Int.min))
        XCTAssertEqual(try JSONValue.parse("9223372036854775808"), .double(9223372036854775808), "too big for Int")
    }

    /// The opt-in exact path: integers past `Int` keep their digits; everything else parses as usual.
    func testLargeIntegersAsTextKeepsEveryDigit() throws {
        let bytes = Array(#"{"a": 18446744073709551615, "b": -99999999999999999999, "c": 7, "d": 1.5, "e": 1e30, "f": [9223372036854775808]}"#.utf8)
        let v = try JSONValue.parse(bytes, largeIntegersAsText: true)
        XCTAssertEqual(v["a"], .string("18446744073709551615"))
        XCTAssertEqual(UInt64(v["a"]?.string ?? ""), UInt64.max, "2^64-1 exactly, not rounded to 2^64")
        XCTAssertEqual(v["b"], .string("-99999999999999999999"))
        XCTAssertEqual(v["c"], .int(7), "integers that fit stay integers")
        XCTAssertEqual(v["d"], .double(1.5))
        XCTAssertEqual(v["e"], .double(1e30), "exponent form is not an integer literal")
        XCTAssertEqual(v["f"]?[0], .string("9223372036854775808"))
        XCTAssertEqual(try JSONValue.parse(bytes, largeIntegersAsText: false)["a"], .double(18446744073709551616))  // 2^64, what UInt64.max rounds to
        XCTAssertThrowsError(try JSONValue.parse(Array("01".utf8), largeIntegersAsText: true), "same grammar")
    }

    func testStringEscapesIncludingSurrogatePairs() throws {
        let v = try JSONValue.parse(#""q\" b\\ s\/ \b\f\n\r\t \u00e9 \u4E2D \ud83d\ude00 raw é😀""#)
        XCTAssertEqual(v.string, "q\" b\\ s/ \u{8}\u{c}\n\r\t \u{e9} \u{4e2d} \u{1F600} raw é😀")
    }

    func testRejectsInvalidJSON() {
        let bad = ["", " ", "{", "}", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "{a:1}", "[1 2]", "01", "-", "1.", ".5", "1e", "+1",
                   "NaN", "Infinity", "tru", "nul", "\"abc", "\"\\x\"", "\"\\u12\"", "\"\\uZZZZ\"", "\"\\ud83d\"",
                   "\"\\ude00\"", "\"\\ud83d\\u0041\"", "\"a\u{1}b\"", "// c\n1", "1 2", "{\"a\":1,\"a\":2}", "1e400"]
        for text in bad {
            XCTAssertThrowsError(try JSONValue.parse(text), "accepted \(text.debugDescription)") { XCTAssertTrue($0 is JSONParseError) }
        }
        XCTAssertThrowsError(try JSONValue.parse([0x22, 0xC3, 0x28, 0x22]), "invalid UTF-8 inside a string")
        XCTAssertThrowsError(try JSONValue.parse([0x22, 0xED, 0xA0, 0x80, 0x22]), "encoded surrogate")
    }

    func testErrorsCarryTheOffset() {
        XCTAssertThrowsError(try JSONValue.parse("[1, 2, x]")) { e in
            XCTAssertEqual((e as? JSONParseError)?.offset, 7)
        }
    }

    func testDepthLimit() throws {
        let ok = String(repeating: "[", count: 128) + String(repeating: "]", count: 128)
        XCTAssertNoThrow(try JSONValue.parse(ok))
        let deep = String(repeating: "[", count: 129) + String(repeating: "]", count: 129)
        XCTAssertThrowsError(try JSONValue.parse(deep))
        XCTAssertNoThrow(try JSONValue.parse(deep, maxDepth: 200))
        XCTAssertThrowsError(try JSONValue.parse(String(repeating: "{\"a\":", count: 100_000)), "no stack overflow")
    }

    func testSerializedTextRoundTripsAndFoundationAgrees() throws {
        let v: JSONValue = ["name": "a\"b\\c\n\u{1}é😀", "n": 3, "x": 0.1, "big": 1e300, "small": -2.5e-7,
                            "list": [1, true, nil, [], [:]], "nested": ["k": ["z": false]]]
        for pretty in [false, true] {
            let text = v.serialized(pretty: pretty)
            XCTAssertEqual(try JSONValue.parse(text), v, text)
            let foundation = try JSONSerialization.jsonObject(with: Data(text.utf8)) as! [String: Any]
            XCTAssertEqual(foundation["name"] as? String, "a\"b\\c\n\u{1}é😀")
            XCTAssertEqual((foundation["x"] as? NSNumber)?.doubleValue, 0.1)
            XCTAssertEqual((foundation["small"] as? NSNumber)?.doubleValue, -2.5e-7)
        }
        XCTAssertEqual(v.serialized(), v.description)
        XCTAssertEqual(JSONValue.object(["b": 1, "a": 2]).serialized(), #"{"a":2,"b":1}"#, "sorted keys")
        XCTAssertEqual(JSONValue.double(.nan).serialized(), "null")
    }

    func testParsesRealConfigShape() throws {
        let text = #"{"_class_name": "FluxTransformer2DModel", "axes_dims_rope": [16, 56, 56], "guidance_embeds": true, "num_layers": 19, "theta": 1e4}"#
        let v = try JSONValue.parse(text)
        XCTAssertEqual(v["axes_dims_rope"]?.array?.compactMap(\.int), [16, 56, 56])
        XCTAssertEqual(v["num_layers"]?.int, 19)
        XCTAssertEqual(v["theta"]?.double, 10000)
        XCTAssertEqual(v["guidance_embeds"]?.bool, true)
    }
}
