/* cpu.c - the CPU backend for YAMNet: layer1 as im2col + SGEMM, depthwise
 * 3x3 as a direct loop vectorised over channels, pointwise convolutions as
 * OpenBLAS SGEMM (early layers) or our own kernel (late layers), the dense
 * layer as fixed-order dot products; bias and ReLU are fused into the pass
 * that follows each product. Activations are NHWC.
 *
 * A patch's results are a function of the patch only: bit-identical whatever
 * batch it came in, whatever thread ran it and however loaded the machine
 * (so a resumed run equals a clean one). That rules out handing a product
 * over several patches to a BLAS: OpenBLAS sums an output row in another
 * order depending on where the row falls in its tiles (the Haswell kernels
 * do, at rows 6-11 of every 12 and in tail tiles), so a patch's last bits
 * depended on its neighbours. Instead:
 * - the early layers (large maps, few channels: layer1 .. layer6) run one
 *   patch at a time, each SGEMM of the same shape for every patch;
 * - the late ones (24 or 6 pixels, 256..1024 channels, two thirds of the
 *   multiply-adds) would waste most of a per-patch SGEMM on packing the
 *   weights, so they run over all of a worker's patches at once in our
 *   kernel, whose every output is one chain of multiply-adds over the input
 *   channels in order, whatever rows share its tile (pw_late below).
 * The batch is split across worker threads; OpenBLAS is kept single-threaded
 * while the backend lives. */
#include "aedcurate/nn.h"
#include "aedcurate/error.h"
#include "aedcurate/util.h"

#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define EARLY 11 /* layer1 .. layer6 pointwise run patch by patch through SGEMM */
#define NR 16    /* output channels of a pw_late tile: two 8-float vectors */
#define MR 6     /* rows (pixels) of a pw_late tile */
#define KC 256   /* input channels per pass over a tile: a 16 KiB weight panel */

typedef float v8sf __attribute__((vector_size(32), aligned(4)));
typedef int32_t v8si __attribute__((vector_size(32), aligned(4)));

struct worker {
	struct cpu *cpu;
	pthread_t thread;
	float *pa, *pb;     /* one patch's early activations, ping-pong, max_act floats */
	float *a, *b;       /* the job's late activations, ping-pong, sub * max_late floats */
	float *col;         /* layer1 im2col, 48*32*9 floats */
	/* job */
	const float *in;    /* n patches */
	int n;              /* patches in this job, <= sub */
	float *emb, *scores;
};

struct cpu {
	const struct aed_yamnet *m;
	int threads;        /* workers */
	int sub;            /* patches per worker per call */
	int blas_threads;   /* OpenBLAS's thread count before init, restored by free */
	size_t max_act;     /* floats of the largest activation of one patch */
	size_t max_late;    /* ... of the largest from layer EARLY on */
	float *packed[AED_YAMNET_LAYERS]; /* late pointwise weights in NR-channel panels */
	/* pw_late's kernels: an MR x NR tile, one row of NR */
	void (*tile)(const float *in, int ld, const float *wp, int k0, int k1, float *out, int ldo);
	void (*row)(const float *in, const float *wp, int k0, int k1, float *out);
	struct worker *w;
};

/* SAME padding: TF pads (total / 2) before and the rest after, so with an
 * even input and stride 2 the extra row/column goes at the bottom/right. */
static int pad_before(int in, int out, int stride)
{
	int total = (out - 1) * stride + 3 - in;
	return total > 0 ? total / 2 : 0;
}

/* The hot loops are compiled for AVX2 and for the baseline, picked at load
 * time (ifunc); both give the same results on a machine that has AVX2
 * because the choice never changes within a process. */
#if defined(__x86_64__) && defined(__GNUC__)
#define HOT __attribute__((target_clones("avx2", "default")))
#else
#define HOT
#endif

/* ReLU without comparisons: clear the lanes whose sign bit is set. (A
 * macro: a function returning a 32-byte vector changes ABI with AVX.) */
#define RELU8(x) ((v8sf)((v8si)(x) & ~((v8si)(x) >> 31)))

/* x[r][j] = max(x[r][j] + bias[j], 0). */
HOT static void bias_relu(float *restrict x, size_t rows, int c, const float *restrict bias)
{
	const int c8 = c & ~7;
	for (size_t r = 0; r < rows; r++, x += c) {
		int j;
		for (j = 0; j < c8; j += 8) {
			v8sf v = *(v8sf *)(x + j) + *(const v8sf *)(bias + j);
			*(v8sf *)(x + j) = RELU8(v);
		}
		for (; j < c; j++)
			x[j] = x[j] + bias[j] > 0.0f ? x[j] + bias[j] : 0.0f;
	}
}

/* layer1: 3x3 conv, 1 -> cout channels: im2col of the patch, then one SGEMM. */
static void conv1(const struct aed_yamnet_layer *L, const float *in, int nb, float *col,
		  float *out)
{
	int pt = pad_before(L->h_in, L->h_out, L->stride);
	int pl = pad_before(L->w_in, L->w_out, L->stride);
	size_t rows = (size_t)nb * L->h_out * L->w_out;
	float *c = col;
	for (int b = 0; b < nb; b++) {
		const float *x = in + (size_t)b * L->h_in * L->w_in;
		for (int oy = 0; oy < L->h_out; oy++)
			for (int ox = 0; ox < L->w_out; ox++, c += 9)
				for (int ky = 0; ky < 3; ky++)
					for (int kx = 0; kx < 3; kx++) {
						int iy = oy * L->stride - pt + ky;
						int ix = ox * L->stride - pl + kx;
						c[ky * 3 + kx] = iy >= 0 && iy < L->h_in && ix >= 0 &&
								 ix < L->w_in ? x[iy * L->w_in + ix] : 0.0f;
					}
	}
	/* out[rows][cout] = col[rows][9] * W[cout][9]^T */
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, L->cout, 9, 1.0f, col, 9,
		    L->weight, 9, 0.0f, out, L->cout);
	bias_relu(out, rows, L->cout, L->bias);
}

/* Depthwise 3x3 with bias and ReLU. Channels are innermost (NHWC), so each
 * tap is a multiply-add of two contiguous rows of c floats into the output
 * pixel, vectorised 8 wide; bounds are checked once per tap, not per lane. */
HOT static void depthwise(const struct aed_yamnet_layer *L, const float *in, int nb, float *out)
{
	const int c = L->cin, s = L->stride, hi = L->h_in, wi = L->w_in;
	const int pt = pad_before(hi, L->h_out, s), pl = pad_before(wi, L->w_out, s);
	const int c8 = c & ~7;
	for (int b = 0; b < nb; b++) {
		const float *x = in + (size_t)b * hi * wi * c;
		float *y = out + (size_t)b * L->h_out * L->w_out * c;
		for (int oy = 0; oy < L->h_out; oy++)
			for (int ox = 0; ox < L->w_out; ox++, y += c) {
				memcpy(y, L->bias, (size_t)c * sizeof *y);
				for (int ky = 0; ky < 3; ky++) {
					int iy = oy * s - pt + ky;
					if (iy < 0 || iy >= hi)
						continue;
					for (int kx = 0; kx < 3; kx++) {
						int ix = ox * s - pl + kx;
						if (ix < 0 || ix >= wi)
							continue;
						const float *xr = x + ((size_t)iy * wi + ix) * c;
						const float *wr = L->weight + (ky * 3 + kx) * c;
						int j;
						for (j = 0; j < c8; j += 8)
							*(v8sf *)(y + j) += *(const v8sf *)(xr + j) *
									    *(const v8sf *)(wr + j);
						for (; j < c; j++)
							y[j] += xr[j] * wr[j];
					}
				}
				int j;
				for (j = 0; j < c8; j += 8)
					*(v8sf *)(y + j) = RELU8(*(v8sf *)(y + j));
				for (; j < c; j++)
					y[j] = y[j] > 0.0f ? y[j] : 0.0f;
			}
	}
}

/* Early 1x1 conv as one SGEMM over one patch's pixels: [H*W, Cin] x [Cin, Cout]. */
static void pointwise(const struct aed_yamnet_layer *L, const float *in, float *out)
{
	const int hw = L->h_out * L->w_out;
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, hw, L->cout, L->cin, 1.0f, in,
		    L->cin, L->weight, L->cin, 0.0f, out, L->cout);
	bias_relu(out, (size_t)hw, L->cout, L->bias);
}

/* Late 1x1 conv kernels. A tile is MR rows x NR output channels; `wp` is the
 * layer's panel of NR channels, [cin][NR]. Over input channels k0..k1-1 each
 * output continues its chain from `out` (or from zero when k0 is 0) with one
 * multiply-add per k, in order: the tile kernel and the one-row kernel do
 * exactly the same operations per output, so no output depends on the rows
 * beside it or on how the rows were blocked. Built with FMA where the CPU has
 * it, else with a multiply and an add; the choice is made once a process. */
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

__attribute__((target("avx2,fma"))) static void tile_fma(const float *in, int ld,
							  const float *wp, int k0, int k1,
							  float *out, int ldo)
{
	__m256 c[MR][2];
#pragma GCC unroll 6
	for (int r = 0; r < MR; r++) {
		c[r][0] = k0 ? _mm256_loadu_ps(out + (size_t)r * ldo) : _mm256_setzero_ps();
		c[r][1] = k0 ? _mm256_loadu_ps(out + (size_t)r * ldo + 8) : _mm256_setzero_ps();
	}
	for (int k = k0; k < k1; k++) {
		__m256 w0 = _mm256_load_ps(wp + (size_t)k * NR), w1 = _mm256_load_ps(wp + (size_t)k * NR + 8);
#pragma GCC unroll 6
		for (int r = 0; r < MR; r++) {
			__m256 x = _mm256_broadcast_ss(in + (size_t)r * ld + k);
			c[r][0] = _mm256_fmadd_ps(x, w0, c[r][0]);
			c[r][1] = _mm256_fmadd_ps(x, w1, c[r][1]);
		}
	}
#pragma GCC unroll 6
	for (int r = 0; r < MR; r++) {
		_mm256_storeu_ps(out + (size_t)r * ldo, c[r][0]);
		_mm256_storeu_ps(out + (size_t)r * ldo + 8, c[r][1]);
	}
}

__attribute__((target("avx2,fma"))) static void row_fma(const float *in, const float *wp, int k0,
							 int k1, float *out)
{
	__m256 c0 = k0 ? _mm256_loadu_ps(out) : _mm256_setzero_ps();
	__m256 c1 = k0 ? _mm256_loadu_ps(out + 8) : _mm256_setzero_ps();
	for (int k = k0; k < k1; k++) {
		__m256 x = _mm256_broadcast_ss(in + k);
		c0 = _mm256_fmadd_ps(x, _mm256_load_ps(wp + (size_t)k * NR), c0);
		c1 = _mm256_fmadd_ps(x, _mm256_load_ps(wp + (size_t)k * NR + 8), c1);
	}
	_mm256_storeu_ps(out, c0);
	_mm256_storeu_ps(out + 8, c1);
}

static int have_fma(void)
{
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#else
static int have_fma(void)
{
	return 0;
}
#endif

/* Without FMA: the same chains with a rounded product and a rounded sum
 * (the build never contracts them: -std=c11 sets -ffp-contract=off). */
static void tile_plain(const float *in, int ld, const float *wp, int k0, int k1, float *out,
		       int ldo)
{
	v8sf c[MR][2];
	for (int r = 0; r < MR; r++)
		for (int h = 0; h < 2; h++)
			c[r][h] = k0 ? *(const v8sf *)(out + (size_t)r * ldo + 8 * h) : (v8sf){ 0 };
	for (int k = k0; k < k1; k++) {
		v8sf w0 = *(const v8sf *)(wp + (size_t)k * NR), w1 = *(const v8sf *)(wp + (size_t)k * NR + 8);
		for (int r = 0; r < MR; r++) {
			float x = in[(size_t)r * ld + k];
			c[r][0] = c[r][0] + x * w0;
			c[r][1] = c[r][1] + x * w1;
		}
	}
	for (int r = 0; r < MR; r++)
		for (int h = 0; h < 2; h++)
			*(v8sf *)(out + (size_t)r * ldo + 8 * h) = c[r][h];
}

static void row_plain(const float *in, const float *wp, int k0, int k1, float *out)
{
	v8sf c0 = k0 ? *(const v8sf *)out : (v8sf){ 0 };
	v8sf c1 = k0 ? *(const v8sf *)(out + 8) : (v8sf){ 0 };
	for (int k = k0; k < k1; k++) {
		float x = in[k];
		c0 = c0 + x * *(const v8sf *)(wp + (size_t)k * NR);
		c1 = c1 + x * *(const v8sf *)(wp + (size_t)k * NR + 8);
	}
	*(v8sf *)out = c0;
	*(v8sf *)(out + 8) = c1;
}

/* Late 1x1 conv over `rows` pixels (all of a worker's patches back to back):
 * out[r][j] = max(bias[j] + sum_k in[r][k] W[j][k], 0). The input channels
 * are taken KC at a time so that a weight panel stays in L1 while every row
 * of the job passes over it. */
static void pw_late(const struct cpu *cpu, const struct aed_yamnet_layer *L, const float *packed,
		    const float *in, int rows, float *out)
{
	const int cin = L->cin, cout = L->cout;
	for (int k0 = 0; k0 < cin; k0 += KC) {
		int k1 = k0 + KC < cin ? k0 + KC : cin;
		for (int j = 0; j < cout; j += NR) {
			const float *wp = packed + (size_t)j * cin;
			int r = 0;
			for (; r + MR <= rows; r += MR)
				cpu->tile(in + (size_t)r * cin, cin, wp, k0, k1,
					  out + (size_t)r * cout + j, cout);
			for (; r < rows; r++)
				cpu->row(in + (size_t)r * cin, wp, k0, k1, out + (size_t)r * cout + j);
		}
	}
	bias_relu(out, (size_t)rows, cout, L->bias);
}

/* Dense layer and sigmoid: logits as fixed-order dot products (8 partial
 * sums, added pairwise), so they never depend on a library's choice of path
 * for a one-row product. 0.5 M multiply-adds a patch: a rounding error next
 * to the network's 69 M. */
HOT static void dense(const struct aed_yamnet *m, const float *restrict e, float *restrict scores)
{
	const int c = AED_YAMNET_EMBED_DIM;
	for (int j = 0; j < AED_YAMNET_CLASSES; j++) {
		const float *restrict w = m->dense_w + (size_t)j * c;
		v8sf acc = { 0 };
		for (int k = 0; k < c; k += 8)
			acc += *(const v8sf *)(e + k) * *(const v8sf *)(w + k);
		float l = ((acc[0] + acc[4]) + (acc[1] + acc[5])) +
			  ((acc[2] + acc[6]) + (acc[3] + acc[7]));
		scores[j] = 1.0f / (1.0f + expf(-(l + m->dense_b[j])));
	}
}

/* Global average pooling of a patch's last activation [h*w][1024] into its
 * embedding, then the dense layer. */
static void head(const struct aed_yamnet *m, const float *x, float *emb, float *scores)
{
	const struct aed_yamnet_layer *last = &m->layers[AED_YAMNET_LAYERS - 1];
	const int hw = last->h_out * last->w_out, c = last->cout;
	for (int j = 0; j < c; j++)
		emb[j] = x[j];
	for (int k = 1; k < hw; k++)
		for (int j = 0; j < c; j++)
			emb[j] += x[(size_t)k * c + j];
	for (int j = 0; j < c; j++)
		emb[j] /= (float)hw;
	dense(m, emb, scores);
}

/* The whole network for a worker's job: the early layers patch by patch,
 * their outputs side by side in `b`, then the late layers over all of them. */
static void forward(struct worker *w)
{
	const struct cpu *cpu = w->cpu;
	const struct aed_yamnet *m = cpu->m;
	const int n = w->n;
	const struct aed_yamnet_layer *e = &m->layers[EARLY - 1];
	const size_t early_out = (size_t)e->h_out * e->w_out * e->cout;
	float *a = w->a, *b = w->b, *t;

	for (int p = 0; p < n; p++) {
		const float *src = w->in + (size_t)p * AED_YAMNET_PATCH_FLOATS;
		for (int li = 0; li < EARLY; li++) {
			const struct aed_yamnet_layer *L = &m->layers[li];
			float *dst = li == EARLY - 1 ? b + (size_t)p * early_out : li % 2 ? w->pb : w->pa;
			if (L->kind == AED_YAMNET_CONV)
				conv1(L, src, 1, w->col, dst);
			else if (L->kind == AED_YAMNET_DEPTHWISE)
				depthwise(L, src, 1, dst);
			else
				pointwise(L, src, dst);
			src = dst;
		}
	}
	for (int li = EARLY; li < AED_YAMNET_LAYERS; li++) {
		const struct aed_yamnet_layer *L = &m->layers[li];
		if (L->kind == AED_YAMNET_DEPTHWISE)
			depthwise(L, b, n, a);
		else
			pw_late(cpu, L, cpu->packed[li], b, n * L->h_out * L->w_out, a);
		t = a; a = b; b = t;
	}
	const struct aed_yamnet_layer *last = &m->layers[AED_YAMNET_LAYERS - 1];
	const size_t per = (size_t)last->h_out * last->w_out * last->cout;
	for (int p = 0; p < n; p++)
		head(m, b + (size_t)p * per, w->emb + (size_t)p * AED_YAMNET_EMBED_DIM,
		     w->scores + (size_t)p * AED_YAMNET_CLASSES);
}

static void *worker_main(void *arg)
{
	forward(arg);
	return NULL;
}

static void cpu_free(void **state)
{
	struct cpu *cpu = *state;
	if (!cpu)
		return;
	for (int i = 0; cpu->w && i < cpu->threads; i++) {
		free(cpu->w[i].col);
		free(cpu->w[i].pa);
		free(cpu->w[i].pb);
		free(cpu->w[i].a);
		free(cpu->w[i].b);
	}
	free(cpu->w);
	for (int i = 0; i < AED_YAMNET_LAYERS; i++)
		free(cpu->packed[i]);
	if (cpu->blas_threads > 0)
		openblas_set_num_threads(cpu->blas_threads);
	free(cpu);
	*state = NULL;
}

/* 64-byte aligned floats, so every worker's buffers sit alike in memory. */
static float *floats(size_t n)
{
	void *p = NULL;
	return posix_memalign(&p, 64, n * sizeof(float)) ? NULL : p;
}

static int cpu_init(const struct aed_yamnet *m, const struct aed_nn_opts *opts, void **state)
{
	struct cpu *cpu = calloc(1, sizeof *cpu);
	int max_batch = opts && opts->max_batch > 0 ? opts->max_batch : 32;

	*state = NULL;
	if (!cpu)
		return aed_error(AED_ENOMEM, "out of memory");
	cpu->m = m;
	cpu->threads = opts && opts->threads > 0 ? opts->threads : aed_ncpu();
	if (cpu->threads > max_batch)
		cpu->threads = max_batch;
	cpu->sub = (max_batch + cpu->threads - 1) / cpu->threads;
	cpu->max_act = AED_YAMNET_PATCH_FLOATS;
	for (int i = 0; i < AED_YAMNET_LAYERS; i++) {
		const struct aed_yamnet_layer *L = &m->layers[i];
		size_t n = (size_t)L->h_out * L->w_out * L->cout;
		if (n > cpu->max_act)
			cpu->max_act = n;
		if (i >= EARLY - 1 && n > cpu->max_late)
			cpu->max_late = n;
	}
	/* The late pointwise weights, repacked into panels of NR channels. */
	for (int i = EARLY; i < AED_YAMNET_LAYERS; i++) {
		const struct aed_yamnet_layer *L = &m->layers[i];
		if (L->kind != AED_YAMNET_POINTWISE)
			continue;
		if (L->cout % NR) {
			void *st = cpu;
			cpu_free(&st);
			return aed_error(AED_EINTERNAL, "%s: %d output channels, not a multiple of %d",
					 L->name, L->cout, NR);
		}
		if (!(cpu->packed[i] = floats((size_t)L->cin * L->cout)))
			goto nomem;
		for (int j = 0; j < L->cout; j++)
			for (int k = 0; k < L->cin; k++)
				cpu->packed[i][(size_t)(j / NR) * L->cin * NR + (size_t)k * NR + j % NR] =
					L->weight[(size_t)j * L->cin + k];
	}
	/* AEDCURATE_NN_KERNEL=plain picks the kernels without FMA on a CPU that
	 * has it: the tests check both on one machine. */
	const char *kern = getenv("AEDCURATE_NN_KERNEL");
	int fma = have_fma() && !(kern && !strcmp(kern, "plain"));
	cpu->tile = fma ? tile_fma : tile_plain;
	cpu->row = fma ? row_fma : row_plain;
	const struct aed_yamnet_layer *l1 = &m->layers[0];
	size_t col = (size_t)l1->h_out * l1->w_out * 9;
	/* Each worker calls SGEMM itself: OpenBLAS must not start its own threads
	 * (until free, which restores the count for later users in the process). */
	cpu->blas_threads = openblas_get_num_threads();
	openblas_set_num_threads(1);
	cpu->w = calloc((size_t)cpu->threads, sizeof *cpu->w);
	if (!cpu->w)
		goto nomem;
	for (int i = 0; i < cpu->threads; i++) {
		struct worker *w = &cpu->w[i];
		w->cpu = cpu;
		w->col = floats(col);
		w->pa = floats(cpu->max_act);
		w->pb = floats(cpu->max_act);
		w->a = floats((size_t)cpu->sub * cpu->max_late);
		w->b = floats((size_t)cpu->sub * cpu->max_late);
		if (!w->col || !w->pa || !w->pb || !w->a || !w->b)
			goto nomem;
	}
	*state = cpu;
	return AED_OK;
nomem:
	{
		void *s = cpu;
		cpu_free(&s);
	}
	return aed_error(AED_ENOMEM, "out of memory for %d patches a batch", max_batch);
}

static int cpu_run_batch(void *state, const float *patches, int n, float *emb, float *scores)
{
	struct cpu *cpu = state;
	int used = 0;

	if (n < 0 || n > cpu->sub * cpu->threads)
		return aed_error(AED_EINTERNAL, "batch of %d patches (at most %d)", n,
				 cpu->sub * cpu->threads);
	/* Share the patches evenly; which worker runs a patch changes nothing in
	 * its results. */
	int per = (n + cpu->threads - 1) / cpu->threads;
	for (int i = 0; i < cpu->threads && i * per < n; i++) {
		struct worker *w = &cpu->w[i];
		int first = i * per;
		w->n = n - first < per ? n - first : per;
		w->in = patches + (size_t)first * AED_YAMNET_PATCH_FLOATS;
		w->emb = emb + (size_t)first * AED_YAMNET_EMBED_DIM;
		w->scores = scores + (size_t)first * AED_YAMNET_CLASSES;
		used = i + 1;
	}
	/* Worker 0 runs on the calling thread; a worker whose thread cannot be
	 * started runs there too (same results, only slower). */
	int started = 1;
	while (started < used &&
	       pthread_create(&cpu->w[started].thread, NULL, worker_main, &cpu->w[started]) == 0)
		started++;
	if (used > 0)
		forward(&cpu->w[0]);
	for (int i = started; i < used; i++)
		forward(&cpu->w[i]);
	for (int i = 1; i < started; i++)
		pthread_join(cpu->w[i].thread, NULL);
	return AED_OK;
}

const struct aed_nn_backend_ops aed_nn_cpu_ops = {
	.name = "cpu",
	.init = cpu_init,
	.run_batch = cpu_run_batch,
	.free = cpu_free,
};
