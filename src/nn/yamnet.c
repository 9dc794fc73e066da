/* yamnet.c - YAMNet's weights from its TFLite file: finds the operators of
 * layer1..layer14 and the dense layer by name, checks them against the
 * MobileNet-v1 architecture YAMNet uses, and dequantises weights to float.
 * The graph's own DFT/mel front end is ignored (ours replaces it). */
#include "aedcurate/nn.h"
#include "aedcurate/error.h"
#include "aedcurate/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* YAMNet (MobileNet-v1 on 96x64 log-mel): layer1 is a 3x3 stride-2 conv to
 * 32 channels; layer2..layer14 are depthwise 3x3 (stride below) followed by
 * a pointwise 1x1 conv to the channel count below. */
static const struct { int stride, cout; } arch[14] = {
	{ 2, 32 },                                     /* layer1 conv */
	{ 1, 64 }, { 2, 128 }, { 1, 128 }, { 2, 256 }, { 1, 256 }, { 2, 512 },
	{ 1, 512 }, { 1, 512 }, { 1, 512 }, { 1, 512 }, { 1, 512 },
	{ 2, 1024 }, { 1, 1024 },
};

/* First ';'-separated component of a tensor name (the converter joins the
 * names of fused ops with ';'; the first one is the op's own result). */
static size_t first_len(const char *name)
{
	const char *s = strchr(name, ';');
	return s ? (size_t)(s - name) : strlen(name);
}

/* Does the first component of name contain `part` starting at its beginning
 * or right after a '/'? */
static int names_part(const char *name, const char *part)
{
	size_t n = first_len(name), k = strlen(part);
	for (size_t i = 0; i + k <= n; i++)
		if ((i == 0 || name[i - 1] == '/') && memcmp(name + i, part, k) == 0)
			return 1;
	return 0;
}

/* The single operator of type `code` whose output is named for `part`. */
static int find_op(const struct aed_tflite *m, const char *what, int code, const char *part,
		   const struct aed_tfl_op **out)
{
	const struct aed_tfl_op *found = NULL;
	for (int i = 0; i < m->nops; i++) {
		const struct aed_tfl_op *op = &m->ops[i];
		if (op->code != code || op->noutputs < 1)
			continue;
		if (!names_part(m->tensors[op->outputs[0]].name, part))
			continue;
		if (found)
			return aed_error(AED_EFORMAT, "%s: two %s operators compute %s", what,
					 aed_tflite_op_name(code), part);
		found = op;
	}
	if (!found)
		return aed_error(AED_EFORMAT, "%s: no %s operator computes %s (is this YAMNet?)", what,
				 aed_tflite_op_name(code), part);
	*out = found;
	return AED_OK;
}

/* A weight input: constant data, or the output of a DEQUANTIZE of a constant. */
static int const_input(const struct aed_tflite *m, const char *what, int t, const char *part,
		       int *src)
{
	if (t < 0)
		return aed_error(AED_EFORMAT, "%s: %s has no weight or bias input", what, part);
	if (m->tensors[t].data) {
		*src = t;
		return AED_OK;
	}
	for (int i = 0; i < m->nops; i++) {
		const struct aed_tfl_op *op = &m->ops[i];
		if (op->code == AED_TFL_OP_DEQUANTIZE && op->noutputs == 1 && op->outputs[0] == t &&
		    op->ninputs == 1 && op->inputs[0] >= 0 && m->tensors[op->inputs[0]].data) {
			*src = op->inputs[0];
			return AED_OK;
		}
	}
	return aed_error(AED_EFORMAT, "%s: the weights of %s (%s) are not constant", what, part,
			 m->tensors[t].name);
}

static int shape_is(const struct aed_tfl_tensor *t, int ndim, const int *dims)
{
	if (t->ndim != ndim)
		return 0;
	for (int i = 0; i < ndim; i++)
		if (t->shape[i] != dims[i])
			return 0;
	return 1;
}

static void shape_str(const struct aed_tfl_tensor *t, char *buf, size_t n)
{
	size_t o = 0;
	o += (size_t)snprintf(buf, n, "[");
	for (int i = 0; i < t->ndim && o < n; i++)
		o += (size_t)snprintf(buf + o, n - o, "%s%d", i ? "," : "", (int)t->shape[i]);
	if (o < n)
		snprintf(buf + o, n - o, "]");
}

static int load_const(const struct aed_tflite *m, const char *what, const char *part, int t,
		      int ndim, const int *dims, float **out, int *quantized)
{
	const struct aed_tfl_tensor *tt = &m->tensors[t];
	size_t n;
	if (!shape_is(tt, ndim, dims)) {
		char got[96];
		shape_str(tt, got, sizeof got);
		return aed_error(AED_EFORMAT, "%s: %s: tensor %s has shape %s, expected %d dims [%d,...]",
				 what, part, tt->name, got, ndim, dims[0]);
	}
	if (tt->type == AED_TFL_INT8 || tt->type == AED_TFL_UINT8)
		*quantized = 1;
	int rc = aed_tflite_tensor_f32(m, t, out, &n);
	if (rc)
		return aed_error_prefix(rc, "%s: %s", what, part);
	return AED_OK;
}

static int check_conv_opts(const struct aed_tfl_op *op, const char *what, const char *part,
			   int stride)
{
	if (op->padding != AED_TFL_PAD_SAME || op->stride_w != stride || op->stride_h != stride ||
	    op->dilation_w != 1 || op->dilation_h != 1 || op->activation != AED_TFL_ACT_RELU ||
	    (op->code == AED_TFL_OP_DEPTHWISE_CONV_2D && op->depth_multiplier != 1))
		return aed_error(AED_EFORMAT,
				 "%s: %s: expected SAME padding, stride %d, ReLU; file has padding %d, "
				 "stride %dx%d, dilation %dx%d, activation %d",
				 what, part, stride, op->padding, op->stride_h, op->stride_w,
				 op->dilation_h, op->dilation_w, op->activation);
	if (op->ninputs < 3 || op->inputs[2] < 0)
		return aed_error(AED_EFORMAT, "%s: %s has no bias", what, part);
	return AED_OK;
}

/* The network's head after layer14 (whose op is last): global average
 * pooling, then the dense layer to 521 logits, checked and loaded into y. */
static int load_head(const struct aed_tflite *m, const char *what, const struct aed_tfl_op *last,
		     struct aed_yamnet *y)
{
	const struct aed_tfl_op *mean = NULL, *fc = NULL;
	int rc;

	for (int i = 0; i < m->nops; i++) {
		if (m->ops[i].code == AED_TFL_OP_MEAN && m->ops[i].ninputs >= 1 &&
		    m->ops[i].inputs[0] == last->outputs[0])
			mean = &m->ops[i];
	}
	if (!mean)
		return aed_error(AED_EFORMAT, "%s: no global average pooling (MEAN) after layer14",
				 what);
	for (int i = 0; i < m->nops; i++) {
		if (m->ops[i].code == AED_TFL_OP_FULLY_CONNECTED && m->ops[i].ninputs >= 3 &&
		    m->ops[i].inputs[0] == mean->outputs[0])
			fc = &m->ops[i];
	}
	if (!fc || !names_part(m->tensors[fc->outputs[0]].name, "dense/"))
		return aed_error(AED_EFORMAT, "%s: no dense layer after the pooling", what);
	if (fc->activation != AED_TFL_ACT_NONE)
		return aed_error(AED_EFORMAT, "%s: the dense layer has a fused activation %d", what,
				 fc->activation);
	{
		int wt, bt, dims[2] = { AED_YAMNET_CLASSES, AED_YAMNET_EMBED_DIM },
			    nb = AED_YAMNET_CLASSES;
		if ((rc = const_input(m, what, fc->inputs[1], "dense", &wt)) ||
		    (rc = const_input(m, what, fc->inputs[2], "dense", &bt)) ||
		    (rc = load_const(m, what, "dense", wt, 2, dims, &y->dense_w, &y->quantized)) ||
		    (rc = load_const(m, what, "dense", bt, 1, &nb, &y->dense_b, &y->quantized)))
			return rc;
		y->macs += (int64_t)AED_YAMNET_CLASSES * AED_YAMNET_EMBED_DIM;
	}
	return AED_OK;
}

int aed_yamnet_from_tflite(const struct aed_tflite *m, const char *what, struct aed_yamnet **out)
{
	struct aed_yamnet *y = NULL;
	const struct aed_tfl_op *op = NULL, *prev = NULL;
	int rc = AED_OK, h = AED_YAMNET_PATCH_FRAMES, w = AED_YAMNET_MEL_BANDS, c = 1;

	*out = NULL;
	y = calloc(1, sizeof *y);
	if (!y)
		return aed_error(AED_ENOMEM, "out of memory");
	snprintf(y->name, sizeof y->name, "yamnet");

	for (int li = 0; li < AED_YAMNET_LAYERS; li++) {
		struct aed_yamnet_layer *L = &y->layers[li];
		int n = li == 0 ? 1 : (li + 1) / 2 + 1; /* layer number */
		int stride, wt, bt, dims[4];
		char part[40];

		if (li == 0) {
			L->kind = AED_YAMNET_CONV;
			snprintf(part, sizeof part, "layer1/");
			snprintf(L->name, sizeof L->name, "layer1/conv");
			stride = arch[0].stride;
		} else if (li % 2 == 1) {
			L->kind = AED_YAMNET_DEPTHWISE;
			snprintf(part, sizeof part, "layer%d/depthwise_conv", n);
			snprintf(L->name, sizeof L->name, "%s", part);
			stride = arch[n - 1].stride;
		} else {
			L->kind = AED_YAMNET_POINTWISE;
			snprintf(part, sizeof part, "layer%d/pointwise_conv", n);
			snprintf(L->name, sizeof L->name, "%s", part);
			stride = 1;
		}
		rc = find_op(m, what, L->kind == AED_YAMNET_DEPTHWISE ? AED_TFL_OP_DEPTHWISE_CONV_2D
								       : AED_TFL_OP_CONV_2D,
			     part, &op);
		if (rc || (rc = check_conv_opts(op, what, L->name, stride)))
			goto out;
		/* The layers must form a chain: each reads what the one before wrote. */
		if (prev && op->inputs[0] != prev->outputs[0]) {
			rc = aed_error(AED_EFORMAT, "%s: %s does not read the output of %s", what,
				       L->name, y->layers[li - 1].name);
			goto out;
		}
		if (!prev) {
			const struct aed_tfl_tensor *in = &m->tensors[op->inputs[0]];
			int want[4] = { 1, h, w, 1 };
			if (!(shape_is(in, 4, want) || (in->ndim == 4 && in->shape[0] == -1 &&
							 in->shape[1] == h && in->shape[2] == w &&
							 in->shape[3] == 1))) {
				rc = aed_error(AED_EFORMAT, "%s: layer1 input %s is not a 96x64 patch",
					       what, in->name);
				goto out;
			}
		}
		prev = op;
		L->stride = stride;
		L->h_in = h;
		L->w_in = w;
		L->cin = c;
		L->h_out = (h + stride - 1) / stride;
		L->w_out = (w + stride - 1) / stride;
		L->cout = L->kind == AED_YAMNET_DEPTHWISE ? c : arch[n - 1].cout;
		if ((rc = const_input(m, what, op->inputs[1], L->name, &wt)) ||
		    (rc = const_input(m, what, op->inputs[2], L->name, &bt)))
			goto out;
		if (L->kind == AED_YAMNET_CONV) {
			dims[0] = L->cout; dims[1] = 3; dims[2] = 3; dims[3] = 1;
		} else if (L->kind == AED_YAMNET_DEPTHWISE) {
			dims[0] = 1; dims[1] = 3; dims[2] = 3; dims[3] = c;
		} else {
			dims[0] = L->cout; dims[1] = 1; dims[2] = 1; dims[3] = c;
		}
		if ((rc = load_const(m, what, L->name, wt, 4, dims, &L->weight, &y->quantized)) ||
		    (rc = load_const(m, what, L->name, bt, 1, &L->cout, &L->bias, &y->quantized)))
			goto out;
		if (L->kind == AED_YAMNET_CONV)
			y->macs += (int64_t)L->h_out * L->w_out * L->cout * 9 * c;
		else if (L->kind == AED_YAMNET_DEPTHWISE)
			y->macs += (int64_t)L->h_out * L->w_out * c * 9;
		else
			y->macs += (int64_t)L->h_out * L->w_out * L->cout * c;
		h = L->h_out;
		w = L->w_out;
		c = L->cout;
	}

	if ((rc = load_head(m, what, prev, y)))
		goto out;
	*out = y;
	y = NULL;
out:
	aed_yamnet_free(&y);
	return rc;
}

int aed_yamnet_load(const char *path, struct aed_yamnet **out)
{
	struct aed_tflite *tfl = NULL;
	struct aed_yamnet *y = NULL;
	int rc;

	*out = NULL;
	if ((rc = aed_tflite_load(path, &tfl)) || (rc = aed_yamnet_from_tflite(tfl, path, &y)))
		goto out;
	aed_sha256_hex(tfl->image, tfl->size, y->sha256);
	if (!(y->path = strdup(path))) {
		rc = aed_error(AED_ENOMEM, "out of memory");
		goto out;
	}
	*out = y;
	y = NULL;
out:
	aed_yamnet_free(&y);
	aed_tflite_free(&tfl);
	return rc;
}

/* One CSV field (RFC 4180 quoting) starting at *p; advances past the comma. */
static char *csv_field(const char **p)
{
	const char *s = *p;
	struct aed_buf b = { 0 };
	if (*s == '"') {
		s++;
		while (*s && !(*s == '"' && s[1] != '"')) {
			if (*s == '"')
				s++;
			if (aed_buf_append(&b, s, 1))
				goto fail;
			s++;
		}
		if (*s == '"')
			s++;
	} else {
		while (*s && *s != ',' && *s != '\n' && *s != '\r') {
			if (aed_buf_append(&b, s, 1))
				goto fail;
			s++;
		}
	}
	if (*s == ',')
		s++;
	*p = s;
	if (aed_buf_append(&b, "", 1))
		goto fail;
	return b.data;
fail:
	aed_buf_release(&b);
	return NULL;
}

int aed_yamnet_load_class_map(struct aed_yamnet *m, const char *path)
{
	char *text = NULL, **mid = NULL, **name = NULL;
	size_t n, line = 1;
	int rc = AED_OK, rows = 0;

	if ((rc = aed_read_file(path, 1 << 20, &text, &n)))
		return rc;
	mid = calloc(AED_YAMNET_CLASSES, sizeof *mid);
	name = calloc(AED_YAMNET_CLASSES, sizeof *name);
	if (!mid || !name) {
		rc = aed_error(AED_ENOMEM, "out of memory");
		goto out;
	}
	const char *p = strchr(text, '\n');
	if (!p || strncmp(text, "index,mid,display_name", 22) != 0) {
		rc = aed_error(AED_EFORMAT, "%s:1: expected the header index,mid,display_name", path);
		goto out;
	}
	p++;
	while (*p) {
		line++;
		if (*p == '\n' || *p == '\r') { /* a blank line */
			while (*p && *p != '\n')
				p++;
			if (*p)
				p++;
			continue;
		}
		char *idx = csv_field(&p), *mi = csv_field(&p), *dn = csv_field(&p);
		char *end = NULL;
		long i = idx ? strtol(idx, &end, 10) : -1;
		int bad = !idx || !mi || !dn || !end || *end || i != rows || !*mi;
		free(idx);
		if (bad || rows >= AED_YAMNET_CLASSES) {
			free(mi);
			free(dn);
			rc = aed_error(AED_EFORMAT, "%s:%zu: expected row %d as index,mid,display_name",
				       path, line, rows);
			goto out;
		}
		mid[rows] = mi;
		name[rows] = dn;
		rows++;
		while (*p && *p != '\n')
			p++;
		if (*p)
			p++;
	}
	if (rows != AED_YAMNET_CLASSES) {
		rc = aed_error(AED_EFORMAT, "%s: %d classes, expected %d", path, rows, AED_YAMNET_CLASSES);
		goto out;
	}
	m->class_mid = mid;
	m->class_name = name;
	mid = name = NULL;
out:
	for (int i = 0; mid && i < AED_YAMNET_CLASSES; i++)
		free(mid[i]);
	for (int i = 0; name && i < AED_YAMNET_CLASSES; i++)
		free(name[i]);
	free(mid);
	free(name);
	free(text);
	return rc;
}

void aed_yamnet_free(struct aed_yamnet **pm)
{
	struct aed_yamnet *m = *pm;
	if (!m)
		return;
	for (int i = 0; i < AED_YAMNET_LAYERS; i++) {
		free(m->layers[i].weight);
		free(m->layers[i].bias);
	}
	free(m->dense_w);
	free(m->dense_b);
	for (int i = 0; i < AED_YAMNET_CLASSES; i++) {
		if (m->class_mid)
			free(m->class_mid[i]);
		if (m->class_name)
			free(m->class_name[i]);
	}
	free(m->class_mid);
	free(m->class_name);
	free(m->path);
	free(m);
	*pm = NULL;
}

static const char *shared_dir(void)
{
	const char *s = getenv("AEDCURATE_SHARED");
	return s && *s ? s : "../shared";
}

int aed_yamnet_find_model(const char *explicit_path, char **path)
{
	char shared[4096];
	const char *env = getenv("AEDCURATE_MODEL");

	*path = NULL;
	if (explicit_path) {
		if (access(explicit_path, R_OK) != 0)
			return aed_error(AED_ENOTFOUND,
					 "%s: no such model file (get the official YAMNet TFLite with "
					 "`make models`, which puts it in build/models/yamnet.tflite)",
					 explicit_path);
		*path = strdup(explicit_path);
		return *path ? AED_OK : aed_error(AED_ENOMEM, "out of memory");
	}
	snprintf(shared, sizeof shared, "%s/models/yamnet/yamnet.tflite", shared_dir());
	const char *cand[3] = { env && *env ? env : NULL, "build/models/yamnet.tflite", shared };
	for (int i = 0; i < 3; i++) {
		if (cand[i] && access(cand[i], R_OK) == 0) {
			*path = strdup(cand[i]);
			return *path ? AED_OK : aed_error(AED_ENOMEM, "out of memory");
		}
	}
	return aed_error(AED_ENOTFOUND,
			 "no YAMNet model file: looked for %s%sbuild/models/yamnet.tflite and %s. "
			 "Run `make models` on a machine with internet access (it downloads the "
			 "official YAMNet TFLite and checks its sha256), or pass --model PATH or "
			 "set AEDCURATE_MODEL",
			 env && *env ? env : "", env && *env ? ", " : "", shared);
}

int aed_yamnet_find_class_map(const char *model_path, char **path)
{
	char buf[4096];
	const char *slash = model_path ? strrchr(model_path, '/') : NULL;
	int dlen = slash ? (int)(slash - model_path) : 1;

	*path = NULL;
	snprintf(buf, sizeof buf, "%.*s/yamnet_class_map.csv", dlen, slash ? model_path : ".");
	if (!model_path || access(buf, R_OK) != 0)
		snprintf(buf, sizeof buf, "%s/models/yamnet/yamnet_class_map.csv", shared_dir());
	if (access(buf, R_OK) != 0)
		return aed_error(AED_ENOTFOUND,
				 "no yamnet_class_map.csv beside %s or in %s/models/yamnet "
				 "(`make models` downloads it)", model_path ? model_path : "the model",
				 shared_dir());
	*path = strdup(buf);
	return *path ? AED_OK : aed_error(AED_ENOMEM, "out of memory");
}
