/* nn.h - the neural-network side: a bounds-checked reader for the subset of
 * the TFLite flatbuffer schema we need, the YAMNet model built from it, the
 * backend interface (CPU now; a CUDA backend implements the same ops), and
 * the small frame classifier that refine and mine train on patch embeddings.
 *
 * Ownership: aed_tflite_load/parse return a model the caller frees with
 * aed_tflite_free(&m); every pointer inside it points into memory the model
 * owns. aed_yamnet_load returns float weights owned by the struct (free with
 * aed_yamnet_free); it keeps no reference to the flatbuffer. A backend state
 * made by ops->init is freed with ops->free and must not outlive its model.
 * aed_clf_train() returns a model freed with aed_clf_free(&m).
 *
 * TFLite file layout (flatbuffers, little-endian, all offsets unsigned 32-bit
 * and relative to where they are stored, except vtable offsets):
 *   u32 root offset -> Model table; bytes 4..7 are the identifier "TFL3".
 *   table:  i32 at the table start; vtable = table - that value.
 *   vtable: u16 vtable bytes, u16 table bytes, then one u16 per field: the
 *           field's offset inside the table, 0 = absent (schema default).
 *   vector: u32 count, then elements (tables/strings as u32 offsets).
 *   string: u32 length, bytes, NUL.
 * Fields read (schema.fbs field ids):
 *   Model:      1 operator_codes [OperatorCode], 2 subgraphs [SubGraph]
 *               (the first is the graph), 4 buffers [Buffer], 0 version u32.
 *   OperatorCode: 0 deprecated_builtin_code i8, 3 builtin_code i32
 *               (the code is the larger of the two).
 *   SubGraph:   0 tensors [Tensor], 1 inputs [i32], 2 outputs [i32],
 *               3 operators [Operator].
 *   Tensor:     0 shape [i32], 1 type i8 (TensorType), 2 buffer u32,
 *               3 name string, 4 quantization QuantizationParameters.
 *   QuantizationParameters: 2 scale [f32], 3 zero_point [i64],
 *               6 quantized_dimension i32.
 *   Buffer:     0 data [u8]; or 1 offset u64 + 2 size u64 (from file start).
 *   Operator:   0 opcode_index u32, 1 inputs [i32], 2 outputs [i32],
 *               3 builtin_options_type u8, 4 builtin_options table:
 *     Conv2DOptions (1):          0 padding, 1 stride_w, 2 stride_h,
 *                                 3 activation, 4/5 dilation w/h
 *     DepthwiseConv2DOptions (2): 0 padding, 1 stride_w, 2 stride_h,
 *                                 3 depth_multiplier, 4 activation, 5/6 dilation
 *     FullyConnectedOptions (8):  0 activation
 * Every offset, count and length is checked against the file size before use;
 * a tensor's buffer must hold exactly shape x element size bytes.
 */
#ifndef AEDCURATE_NN_H
#define AEDCURATE_NN_H

#include <stddef.h>
#include <stdint.h>

/* --- TFLite ---------------------------------------------------------------- */
enum aed_tfl_type {
	AED_TFL_FLOAT32 = 0,
	AED_TFL_FLOAT16 = 1,
	AED_TFL_INT32 = 2,
	AED_TFL_UINT8 = 3,
	AED_TFL_INT64 = 4,
	AED_TFL_STRING = 5,
	AED_TFL_BOOL = 6,
	AED_TFL_INT16 = 7,
	AED_TFL_INT8 = 9,
};

enum aed_tfl_opcode {
	AED_TFL_OP_CONV_2D = 3,
	AED_TFL_OP_DEPTHWISE_CONV_2D = 4,
	AED_TFL_OP_DEQUANTIZE = 6,
	AED_TFL_OP_FULLY_CONNECTED = 9,
	AED_TFL_OP_LOGISTIC = 14,
	AED_TFL_OP_RESHAPE = 22,
	AED_TFL_OP_MEAN = 40,
};

enum aed_tfl_padding { AED_TFL_PAD_SAME = 0, AED_TFL_PAD_VALID = 1 };
enum aed_tfl_act { AED_TFL_ACT_NONE = 0, AED_TFL_ACT_RELU = 1, AED_TFL_ACT_RELU6 = 3 };

#define AED_TFL_MAX_DIMS 8

struct aed_tfl_tensor {
	char *name;           /* NUL-terminated; "" if the file gives none */
	int ndim;
	int32_t shape[AED_TFL_MAX_DIMS];
	int type;             /* enum aed_tfl_type value as stored */
	const uint8_t *data;  /* constant data inside the file image; NULL if none */
	size_t nbytes;        /* bytes at data */
	int nscale;           /* quantisation scales: 0, 1 (per tensor) or per channel */
	float *scale;
	int64_t *zero_point;  /* nscale entries (zeros when the file has none) */
	int qdim;             /* quantized_dimension for per-channel scales */
};

struct aed_tfl_op {
	int code;             /* enum aed_tfl_opcode (builtin operator code) */
	int ninputs, noutputs;
	int32_t *inputs;      /* tensor indices; -1 = optional input absent */
	int32_t *outputs;
	int options_type;     /* builtin_options_type */
	/* Conv2D / DepthwiseConv2D / FullyConnected options (schema defaults
	 * when absent): */
	int padding;          /* enum aed_tfl_padding */
	int stride_w, stride_h;
	int dilation_w, dilation_h;
	int depth_multiplier;
	int activation;       /* enum aed_tfl_act */
};

struct aed_tflite {
	uint8_t *image;       /* the whole file, owned */
	size_t size;          /* bytes */
	uint32_t version;
	int ntensors;
	struct aed_tfl_tensor *tensors;
	int nops;
	struct aed_tfl_op *ops;
	int ninputs, noutputs;
	int32_t *inputs, *outputs;
};

/* Parse a flatbuffer held in memory (copied; data may be freed afterwards).
 * `what` names the source in messages ("models/yamnet.tflite"). */
int aed_tflite_parse(const void *data, size_t n, const char *what,
		     struct aed_tflite **out);
/* Read and parse a file (at most 1 GiB). */
int aed_tflite_load(const char *path, struct aed_tflite **out);
void aed_tflite_free(struct aed_tflite **m);
/* Index of the tensor named exactly `name`, or -1. */
int aed_tflite_find(const struct aed_tflite *m, const char *name);
/* Elements of a tensor (product of its shape). */
size_t aed_tflite_numel(const struct aed_tfl_tensor *t);
/* The tensor's constant data as float32 (malloc'd, *n elements): float32 is
 * copied, int8/uint8 dequantised as (q - zero_point) * scale with per-tensor
 * or per-channel scales, float16 widened. Refuses other types or no data. */
int aed_tflite_tensor_f32(const struct aed_tflite *m, int t, float **out, size_t *n);
/* Name of a builtin operator code ("CONV_2D") or "op<N>". */
const char *aed_tflite_op_name(int code);

/* --- YAMNet ----------------------------------------------------------------- */
#define AED_YAMNET_PATCH_FRAMES 96  /* log-mel frames per patch (0.96 s) */
#define AED_YAMNET_MEL_BANDS 64
#define AED_YAMNET_PATCH_FLOATS (AED_YAMNET_PATCH_FRAMES * AED_YAMNET_MEL_BANDS)
#define AED_YAMNET_EMBED_DIM 1024
#define AED_YAMNET_CLASSES 521
#define AED_YAMNET_LAYERS 27        /* layer1 conv + 13 x (depthwise, pointwise) */

enum aed_yamnet_kind { AED_YAMNET_CONV, AED_YAMNET_DEPTHWISE, AED_YAMNET_POINTWISE };

/* One convolution with batch norm folded into its bias, ReLU after it.
 * Weight layouts (as in the file):
 *   CONV      [cout][3][3][cin]  (OHWI)
 *   DEPTHWISE [3][3][c]          (1HWC; cout = cin = c)
 *   POINTWISE [cout][cin]        (OHWI with H = W = 1) */
struct aed_yamnet_layer {
	enum aed_yamnet_kind kind;
	char name[40];        /* "layer4/depthwise_conv" */
	int stride;           /* 1 or 2, both axes; padding SAME */
	int h_in, w_in, cin;  /* input activation shape */
	int h_out, w_out, cout;
	float *weight;
	float *bias;          /* cout */
};

struct aed_yamnet {
	char name[64];        /* "yamnet" */
	char sha256[65];      /* of the model file */
	char *path;
	struct aed_yamnet_layer layers[AED_YAMNET_LAYERS];
	float *dense_w;       /* [521][1024] (out, in) */
	float *dense_b;       /* [521] */
	int quantized;        /* 1 if any weight was int8 in the file */
	int64_t macs;         /* multiply-adds per patch, whole network */
	char **class_mid;     /* 521 entries ("/m/05tny_"), or NULL without a map */
	char **class_name;    /* 521 display names, or NULL */
};

/* Load YAMNet from a TFLite file: the operators computing layer1..layer14
 * and the dense layer are found by their layer names in the graph, checked
 * against the architecture (shapes, strides, SAME padding, ReLU), and their
 * weights dequantised to float32. A refused file gets a message naming it
 * and what is wrong. */
int aed_yamnet_load(const char *path, struct aed_yamnet **out);
/* Same from a parsed flatbuffer (path/sha256 are left for the caller). */
int aed_yamnet_from_tflite(const struct aed_tflite *tfl, const char *what,
			   struct aed_yamnet **out);
/* Read the class map CSV (index,mid,display_name; 521 rows) into m. */
int aed_yamnet_load_class_map(struct aed_yamnet *m, const char *csv_path);
void aed_yamnet_free(struct aed_yamnet **m);

/* Resolve the model path: explicit (may be NULL), then $AEDCURATE_MODEL,
 * build/models/yamnet.tflite, $AEDCURATE_SHARED/models/yamnet/yamnet.tflite
 * (AEDCURATE_SHARED defaults to ../shared). On failure the message says how
 * to get the file. *path is malloc'd. */
int aed_yamnet_find_model(const char *explicit_path, char **path);
/* The class map beside the model (same folder, yamnet_class_map.csv), else
 * $AEDCURATE_SHARED/models/yamnet/yamnet_class_map.csv. */
int aed_yamnet_find_class_map(const char *model_path, char **path);

/* --- backends ---------------------------------------------------------------
 * Input: n patches of [96][64] log-mel floats (frame-major) back to back.
 * Output: emb [n][1024] (global average pool) and scores [n][521] (sigmoid).
 * Results for a patch do not depend on which other patches share its batch. */
struct aed_nn_opts {
	int max_batch;        /* patches per run_batch call at most; 0 = 32 */
	int threads;          /* worker threads; 0 = all cores */
};

struct aed_nn_backend_ops {
	const char *name;     /* "cpu" */
	int (*init)(const struct aed_yamnet *m, const struct aed_nn_opts *opts,
		    void **state);
	int (*run_batch)(void *state, const float *patches, int n, float *emb,
			 float *scores);
	void (*free)(void **state);
};

/* The backend named `name` ("cpu"); NULL name = the default. NULL if none. */
const struct aed_nn_backend_ops *aed_nn_backend(const char *name);
extern const struct aed_nn_backend_ops aed_nn_cpu_ops;

/* --- the YAMNet patch runner -------------------------------------------------
 * The one path from audio to YAMNet's outputs, shared by embed, tag, mine
 * (file exemplars) and refine (consensus): a file decoded to 16 kHz mono and
 * its log-mel (audio.h), or a stored log-mel; 96-frame patches cut from it;
 * the backend's run_batch over them `batch` at a time. Every patch goes
 * through the network on its own, so its outputs do not depend on the batch,
 * the threads or the other patches (src/nn/runner.c).
 * Ownership: a runner is embedded by the caller, holds the backend state for
 * one model (which must outlive it) and is released with
 * aed_yamnet_runner_release(); patch and log-mel arrays returned through
 * `float **` are malloc'd and the caller's. */
struct aed_yamnet_runner {
	const struct aed_nn_backend_ops *be;
	void *state;          /* be's state for the model */
	int batch;            /* patches per run_batch call */
	float *emb, *scores;  /* scratch rows for an output the caller does not keep */
};

/* be: from aed_nn_backend() (NULL is refused); batch <= 0: 32; threads 0:
 * all cores. */
int aed_yamnet_runner_init(struct aed_yamnet_runner *r, const struct aed_yamnet *m,
			   const struct aed_nn_backend_ops *be, int batch, int threads);
/* n patches of AED_YAMNET_PATCH_FLOATS back to back: emb [n][1024] and
 * scores [n][521]; either may be NULL when the caller does not want it. */
int aed_yamnet_runner_run(struct aed_yamnet_runner *r, const float *patches, size_t n,
			  float *emb, float *scores);
void aed_yamnet_runner_release(struct aed_yamnet_runner *r);

/* n patches of a log-mel [frames][64] into patches[n][96 * 64]: patch j is
 * frames [j * hop, j * hop + 96), frames past the end read as silence
 * (aed_logmel_floor). hop 48 cuts what aed_patch() cuts; refine's consensus
 * cuts finer ones. */
void aed_yamnet_cut_patches(const float *logmel, size_t frames, int hop, size_t n,
			    float *patches);
/* The aed_patch_count(frames, yamnet) patches of a log-mel (hop 48). */
int aed_yamnet_patches(const float *logmel, size_t frames, float **patches, size_t *n);
/* A file decoded to 16 kHz mono, and its log-mel. pad 1: the samples are
 * first zero-padded as YAMNet pads a waveform (aed_logmel_samples), so the
 * patches are those the pipeline cuts from a stored clip (tag). pad 0: the
 * decoded samples as they are (mine's file exemplars have always been
 * embedded so). *n_samples (may be NULL): the samples the log-mel covers. */
int aed_yamnet_file_logmel(const char *path, int pad, float **logmel, size_t *frames,
			   size_t *n_samples);

/* --- frame classifier -------------------------------------------------------
 * Logistic regression (hidden = 0) or one ReLU hidden layer, with C sigmoid
 * outputs, trained with Adam on standardised inputs and the weighted binary
 * cross-entropy  -[w_c y log p + (1 - y) log(1 - p)]  (soft targets y in
 * [0,1] allowed), L2 on the weights, early stopping on held-out rows. */
struct aed_clf_opts {
	int hidden;           /* 0: logistic regression */
	int max_epochs;       /* default 60 */
	int patience;         /* epochs without held-out improvement; default 6 */
	int batch;            /* rows per step; default 256 */
	double lr;            /* Adam step size; default 1e-3 */
	double l2;            /* weight decay; default 1e-4 */
	uint64_t seed;        /* shuffling and initialisation; default 1 */
};

struct aed_clf_report {
	int epochs;           /* epochs run */
	int best_epoch;       /* 1-based epoch whose parameters were kept */
	double train_loss, heldout_loss; /* mean weighted BCE at best_epoch */
	size_t n_train, n_heldout;       /* rows */
};

struct aed_clf;

/* x [n][d] row-major, y [n][c] targets in [0, 1] (a negative target leaves
 * that row and class out of the loss), pos_w [c] (NULL: 1), heldout [n]
 * (1 = held out; NULL or none held out: no early stopping, max_epochs run). */
int aed_clf_train(const float *x, size_t n, int d, const float *y, int c,
		  const float *pos_w, const uint8_t *heldout,
		  const struct aed_clf_opts *o, struct aed_clf **out,
		  struct aed_clf_report *rep);
/* p [n][c] probabilities. */
int aed_clf_predict(const struct aed_clf *m, const float *x, size_t n, float *p);
void aed_clf_free(struct aed_clf **m);

#endif
