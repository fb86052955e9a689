// libjpeg(-turbo) decoding and encoding, each behind one C call. libjpeg reports fatal errors through error_exit, which must
// not return; the usual answer is longjmp, which must never unwind Swift frames. So setjmp/longjmp stay
// inside mf_jpeg_decode (pure C), and errors come back to Swift as a status code and a message.
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <jpeglib.h>
#include <jerror.h>

#define MF_JPEG_OK 0
#define MF_JPEG_ERROR 1       // libjpeg error (corrupt, truncated, unsupported); message set
#define MF_JPEG_TOO_LARGE 2   // header's size exceeds max_pixels; width/height set
#define MF_JPEG_CMYK 3        // CMYK / YCCK image (refused); width/height set
#define MF_JPEG_NO_MEMORY 4

typedef struct {
    int width;
    int height;
    int channels;             // 3 (RGB; grayscale is expanded by libjpeg)
    unsigned char *pixels;    // malloc'ed, width*height*channels bytes; free with mf_jpeg_free
    char message[JMSG_LENGTH_MAX];
} mf_jpeg_result;

struct mf_jpeg_error_mgr {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    char *message;
};

static void mf_jpeg_error_exit(j_common_ptr cinfo) {
    struct mf_jpeg_error_mgr *err = (struct mf_jpeg_error_mgr *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, err->message);
    longjmp(err->jump, 1);
}

// Warnings are silent (no stderr), except premature end of data: libjpeg would pad the rest of the picture
// with grey, we call the file truncated.
static void mf_jpeg_emit_message(j_common_ptr cinfo, int msg_level) {
    if (msg_level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) {
        mf_jpeg_error_exit(cinfo);
    }
    if (msg_level < 0) cinfo->err->num_warnings++;
}

static void mf_jpeg_output_message(j_common_ptr cinfo) { (void)cinfo; }

static inline void mf_jpeg_free(unsigned char *pixels) { free(pixels); }

/// Decodes a whole JPEG into 8-bit RGB. Refuses pictures whose header claims more than max_pixels pixels
/// before allocating anything for them.
static inline int mf_jpeg_decode(const unsigned char *data, size_t size, long long max_pixels, mf_jpeg_result *result) {
    struct jpeg_decompress_struct cinfo;
    struct mf_jpeg_error_mgr jerr;
    unsigned char *volatile pixels = NULL;
    volatile int status = MF_JPEG_ERROR;

    memset(result, 0, sizeof(*result));
    cinfo.err = jpeg_std_error(&jerr.pub);
    jerr.pub.error_exit = mf_jpeg_error_exit;
    jerr.pub.emit_message = mf_jpeg_emit_message;
    jerr.pub.output_message = mf_jpeg_output_message;
    jerr.message = result->message;
    if (setjmp(jerr.jump)) {
        jpeg_destroy_decompress(&cinfo);
        free(pixels);
        result->pixels = NULL;
        return MF_JPEG_ERROR;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);
    result->width = (int)cinfo.image_width;
    result->height = (int)cinfo.image_height;
    if ((long long)cinfo.image_width * (long long)cinfo.image_height > max_pixels) {
        status = MF_JPEG_TOO_LARGE;
    } else if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) {
        status = MF_JPEG_CMYK;
    }
    if (status != MF_JPEG_ERROR) {
        jpeg_destroy_decompress(&cinfo);
        return status;
    }
    // libjpeg's defaults (islow IDCT, fancy upsampling) are what Pillow decodes with.
    cinfo.out_color_space = JCS_RGB;
    jpeg_start_decompress(&cinfo);
    size_t stride = (size_t)cinfo.output_width * 3;
    pixels = (unsigned char *)malloc(stride * cinfo.output_height);
    if (!pixels) {
        jpeg_destroy_decompress(&cinfo);
        return MF_JPEG_NO_MEMORY;
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = pixels + stride * cinfo.output_scanline;
        jpeg_read_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_decompress(&cinfo);
    result->width = (int)cinfo.output_width;
    result->height = (int)cinfo.output_height;
    result->channels = 3;
    result->pixels = pixels;
    jpeg_destroy_decompress(&cinfo);
    return MF_JPEG_OK;
}

/// Encodes 8-bit RGB (width*height*3 bytes) at `quality` (1-100, 4:2:0 chroma as libjpeg's default), with
/// an APP1 segment holding `app1` (e.g. "Exif\0\0" + TIFF) when app1_size > 0. The JPEG goes to *out
/// (malloc'ed by libjpeg; free with mf_jpeg_free) and *out_size. A libjpeg error returns MF_JPEG_ERROR
/// with `message` (JMSG_LENGTH_MAX bytes) set.
static inline int mf_jpeg_encode(const unsigned char *rgb, int width, int height, int quality,
                                 const unsigned char *app1, unsigned int app1_size,
                                 unsigned char **out, unsigned long *out_size, char *message) {
    struct jpeg_compress_struct cinfo;
    struct mf_jpeg_error_mgr jerr;
    *out = NULL;
    *out_size = 0;
    message[0] = 0;
    cinfo.err = jpeg_std_error(&jerr.pub);
    jerr.pub.error_exit = mf_jpeg_error_exit;
    jerr.pub.emit_message = mf_jpeg_emit_message;
    jerr.pub.output_message = mf_jpeg_output_message;
    jerr.message = message;
    if (setjmp(jerr.jump)) {
        jpeg_destroy_compress(&cinfo);
        free(*out);
        *out = NULL;
        *out_size = 0;
        return MF_JPEG_ERROR;
    }
    jpeg_create_compress(&cinfo);
    jpeg_mem_dest(&cinfo, out, out_size);
    cinfo.image_width = (JDIMENSION)width;
    cinfo.image_height = (JDIMENSION)height;
    cinfo.input_components = 3;
    cinfo.in_color_space = JCS_RGB;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, quality, TRUE);
    jpeg_start_compress(&cinfo, TRUE);
    if (app1_size > 0) jpeg_write_marker(&cinfo, JPEG_APP0 + 1, app1, app1_size);
    size_t stride = (size_t)width * 3;
    while (cinfo.next_scanline < cinfo.image_height) {
        JSAMPROW row = (JSAMPROW)(rgb + stride * cinfo.next_scanline);
        jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    return MF_JPEG_OK;
}
