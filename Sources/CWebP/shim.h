// libwebp's simple decoding and encoding API (webp/decode.h, webp/encode.h): plain C calls that
// report errors by their return values, so Swift calls them directly.
#include <webp/decode.h>
#include <webp/encode.h>
