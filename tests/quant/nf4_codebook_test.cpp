// The NF4 and 8-bit dynamic code books and code pickers against bitsandbytes' own values:
// the literals of get_4bit_type("nf4") and dQuantizeNF4, a printed copy of
// create_dynamic_map(signed=True), and dQuantize's tie rule traced by hand.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "edgetune/quant/nf4_codebook.h"

namespace {

using et::quant::dynamic_index;
using et::quant::dynamic_map_signed;
using et::quant::nf4_code;
using et::quant::nf4_index;
using et::quant::nf4_thresholds;

bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof(float)) == 0; }

// bitsandbytes/functional.py get_4bit_type("nf4"), divided by its max (1.0).
const float kBnbNf4[16] = {-1.0f,
                           -0.6961928009986877f,
                           -0.5250730514526367f,
                           -0.39491748809814453f,
                           -0.28444138169288635f,
                           -0.18477343022823334f,
                           -0.09105003625154495f,
                           0.0f,
                           0.07958029955625534f,
                           0.16093020141124725f,
                           0.24611230194568634f,
                           0.33791524171829224f,
                           0.44070982933044434f,
                           0.5626170039176941f,
                           0.7229568362236023f,
                           1.0f};

// csrc kernels: dQuantizeNF4, transcribed node for node (the oracle for nf4_index).
unsigned char bnb_dQuantizeNF4(float x) {
  if (x > 0.03979014977812767f)
    if (x > 0.3893125355243683f)
      if (x > 0.6427869200706482f)
        if (x > 0.8614784181118011f)
          return 0b1111;
        else
          return 0b1110;
      else if (x > 0.5016634166240692f)
        return 0b1101;
      else
        return 0b1100;
    else if (x > 0.2035212516784668f)
      if (x > 0.2920137718319893f)
        return 0b1011;
      else
        return 0b1010;
    else if (x > 0.1202552504837513f)
      return 0b1001;
    else
      return 0b1000;
  else if (x > -0.33967943489551544f)
    if (x > -0.13791173323988914f)
      if (x > -0.045525018125772476f)
        return 0b0111;
      else
        return 0b0110;
    else if (x > -0.23460740596055984f)
      return 0b0101;
    else
      return 0b0100;
  else if (x > -0.6106329262256622f)
    if (x > -0.4599952697753906f)
      return 0b0011;
    else
      return 0b0010;
  else if (x > -0.8480964004993439f)
    return 0b0001;
  else
    return 0b0000;
}

// create_dynamic_map(signed=True) as printed by torch (float32 values in ascending order), copied
// from a published dump of bitsandbytes' table; independent of this repository's code.
const float kBnbDynamicSigned[256] = {
    -0.992968738079071f,     -0.9789062738418579f,    -0.96484375f,            -0.9507812261581421f,
    -0.936718761920929f,     -0.922656238079071f,     -0.9085937738418579f,    -0.89453125f,
    -0.8804687261581421f,    -0.866406261920929f,     -0.852343738079071f,     -0.8382812738418579f,
    -0.82421875f,            -0.8101562261581421f,    -0.796093761920929f,     -0.782031238079071f,
    -0.7679687738418579f,    -0.75390625f,            -0.7398437261581421f,    -0.725781261920929f,
    -0.7117187976837158f,    -0.6976562738418579f,    -0.68359375f,            -0.6695312261581421f,
    -0.655468761920929f,     -0.6414062976837158f,    -0.6273437738418579f,    -0.61328125f,
    -0.5992187261581421f,    -0.585156261920929f,     -0.5710937976837158f,    -0.5570312738418579f,
    -0.54296875f,            -0.5289062261581421f,    -0.5148437023162842f,    -0.500781238079071f,
    -0.48671871423721313f,   -0.47265625f,            -0.4585937261581421f,    -0.44453126192092896f,
    -0.43046873807907104f,   -0.4164062440395355f,    -0.40234375f,            -0.3882812261581421f,
    -0.37421876192092896f,   -0.36015623807907104f,   -0.3460937440395355f,    -0.33203125f,
    -0.3179687261581421f,    -0.30390626192092896f,   -0.28984373807907104f,   -0.2757812738418579f,
    -0.26171875f,            -0.24765624105930328f,   -0.23359374701976776f,   -0.21953125298023224f,
    -0.20546874403953552f,   -0.19140625f,            -0.17734375596046448f,   -0.16328124701976776f,
    -0.14921875298023224f,   -0.13515624403953552f,   -0.12109375f,            -0.10703125596046448f,
    -0.09859374910593033f,   -0.09578125923871994f,   -0.09296875447034836f,   -0.09015624970197678f,
    -0.08734375238418579f,   -0.08453124761581421f,   -0.08171875774860382f,   -0.07890625298023224f,
    -0.07609374821186066f,   -0.07328125089406967f,   -0.07046874612569809f,   -0.0676562562584877f,
    -0.06484375149011612f,   -0.062031250447034836f,  -0.05921875312924385f,   -0.05640624836087227f,
    -0.053593751043081284f,  -0.05078125f,            -0.047968748956918716f,  -0.04515625163912773f,
    -0.04234374687075615f,   -0.039531249552965164f,  -0.03671875223517418f,   -0.033906251192092896f,
    -0.031093750149011612f,  -0.028281250968575478f,  -0.025468749925494194f,  -0.02265625074505806f,
    -0.019843751564621925f,  -0.017031250521540642f,  -0.014218750409781933f,  -0.011406250298023224f,
    -0.009718749672174454f,  -0.009156249463558197f,  -0.008593750186264515f,  -0.008031249977648258f,
    -0.0074687497690320015f, -0.006906250026077032f,  -0.006343749817460775f,  -0.005781250074505806f,
    -0.0052187503315508366f, -0.0046562496572732925f, -0.004093749914318323f,  -0.0035312497057020664f,
    -0.002968749962747097f,  -0.002406249986961484f,  -0.001843750011175871f,  -0.001281249918974936f,
    -0.0009437500848434865f, -0.0008312499849125743f, -0.0007187500596046448f, -0.0006062500760890543f,
    -0.000493750034365803f,  -0.0003812500217463821f, -0.0002687500382307917f, -0.00015625001105945557f,
    -8.874999912222847e-05f, -6.625000241911039e-05f, -4.374999844003469e-05f, -2.1249998098937795e-05f,
    -7.749999895168003e-06f, -3.250000190746505e-06f, -5.500000384017767e-07f, 0.0f,
    5.500000384017767e-07f,  3.250000190746505e-06f,  7.749999895168003e-06f,  2.1249998098937795e-05f,
    4.374999844003469e-05f,  6.625000241911039e-05f,  8.874999912222847e-05f,  0.00015625001105945557f,
    0.0002687500382307917f,  0.0003812500217463821f,  0.000493750034365803f,   0.0006062500760890543f,
    0.0007187500596046448f,  0.0008312499849125743f,  0.0009437500848434865f,  0.001281249918974936f,
    0.001843750011175871f,   0.002406249986961484f,   0.002968749962747097f,   0.0035312497057020664f,
    0.004093749914318323f,   0.0046562496572732925f,  0.0052187503315508366f,  0.005781250074505806f,
    0.006343749817460775f,   0.006906250026077032f,   0.0074687497690320015f,  0.008031249977648258f,
    0.008593750186264515f,   0.009156249463558197f,   0.009718749672174454f,   0.011406250298023224f,
    0.014218750409781933f,   0.017031250521540642f,   0.019843751564621925f,   0.02265625074505806f,
    0.025468749925494194f,   0.028281250968575478f,   0.031093750149011612f,   0.033906251192092896f,
    0.03671875223517418f,    0.039531249552965164f,   0.04234374687075615f,    0.04515625163912773f,
    0.047968748956918716f,   0.05078125f,             0.053593751043081284f,   0.05640624836087227f,
    0.05921875312924385f,    0.062031250447034836f,   0.06484375149011612f,    0.0676562562584877f,
    0.07046874612569809f,    0.07328125089406967f,    0.07609374821186066f,    0.07890625298023224f,
    0.08171875774860382f,    0.08453124761581421f,    0.08734375238418579f,    0.09015624970197678f,
    0.09296875447034836f,    0.09578125923871994f,    0.09859374910593033f,    0.10703125596046448f,
    0.12109375f,             0.13515624403953552f,    0.14921875298023224f,    0.16328124701976776f,
    0.17734375596046448f,    0.19140625f,             0.20546874403953552f,    0.21953125298023224f,
    0.23359374701976776f,    0.24765624105930328f,    0.26171875f,             0.2757812738418579f,
    0.28984373807907104f,    0.30390626192092896f,    0.3179687261581421f,     0.33203125f,
    0.3460937440395355f,     0.36015623807907104f,    0.37421876192092896f,    0.3882812261581421f,
    0.40234375f,             0.4164062440395355f,     0.43046873807907104f,    0.44453126192092896f,
    0.4585937261581421f,     0.47265625f,             0.48671871423721313f,    0.500781238079071f,
    0.5148437023162842f,     0.5289062261581421f,     0.54296875f,             0.5570312738418579f,
    0.5710937976837158f,     0.585156261920929f,      0.5992187261581421f,     0.61328125f,
    0.6273437738418579f,     0.6414062976837158f,     0.655468761920929f,      0.6695312261581421f,
    0.68359375f,             0.6976562738418579f,     0.7117187976837158f,     0.725781261920929f,
    0.7398437261581421f,     0.75390625f,             0.7679687738418579f,     0.782031238079071f,
    0.796093761920929f,      0.8101562261581421f,     0.82421875f,             0.8382812738418579f,
    0.852343738079071f,      0.866406261920929f,      0.8804687261581421f,     0.89453125f,
    0.9085937738418579f,     0.922656238079071f,      0.936718761920929f,      0.9507812261581421f,
    0.96484375f,             0.9789062738418579f,     0.992968738079071f,      1.0f};

TEST(Nf4Codebook, CodeValuesAreBitsandbytes) {
  for (int k = 0; k < 16; ++k) EXPECT_TRUE(same_bits(nf4_code()[k], kBnbNf4[k])) << "code " << k;
}

TEST(Nf4Codebook, ThresholdsAreMidpointsOfAdjacentCodes) {
  // dQuantizeNF4's literals were generated as midpoints of adjacent codes; each threshold must be
  // within one float32 ulp of the exact midpoint of the two codes it separates.
  for (int k = 0; k < 15; ++k) {
    const double mid = (static_cast<double>(kBnbNf4[k]) + kBnbNf4[k + 1]) / 2;
    const float t = nf4_thresholds()[k];
    EXPECT_LE(std::fabs(t - mid), std::fabs(std::nextafter(t, 2.f) - t)) << "threshold " << k;
  }
}

TEST(Nf4Codebook, IndexFollowsBitsandbytesTreeAtAndAroundEveryThreshold) {
  std::vector<float> xs = {0.f, -0.f, 1.f, -1.f, 2.f, -2.f, 1e-30f, -1e-30f,
                           std::numeric_limits<float>::quiet_NaN()};
  for (float t : nf4_thresholds()) {
    xs.push_back(t);
    xs.push_back(std::nextafter(t, 2.f));
    xs.push_back(std::nextafter(t, -2.f));
  }
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-1.1f, 1.1f);
  for (int i = 0; i < 100000; ++i) xs.push_back(u(rng));
  for (float x : xs) ASSERT_EQ(nf4_index(x), bnb_dQuantizeNF4(x)) << "x = " << x;
  // Hand-worked: a value exactly at a threshold stays on the lower code (strict comparison).
  EXPECT_EQ(nf4_index(0.03979014977812767f), 7);
  EXPECT_EQ(nf4_index(std::nextafter(0.03979014977812767f, 1.f)), 8);
  EXPECT_EQ(nf4_index(-0.8480964004993439f), 0);
  EXPECT_EQ(nf4_index(std::nextafter(-0.8480964004993439f, 1.f)), 1);
  EXPECT_EQ(nf4_index(std::numeric_limits<float>::quiet_NaN()), 0);
}

TEST(DynamicMap, SignedMapEqualsBitsandbytesTableBitForBit) {
  const std::array<float, 256>& m = dynamic_map_signed();
  int differ = 0;
  for (int i = 0; i < 256; ++i)
    if (!same_bits(m[i], kBnbDynamicSigned[i])) {
      ++differ;
      ADD_FAILURE() << "index " << i << ": " << m[i] << " vs bitsandbytes " << kBnbDynamicSigned[i];
    }
  EXPECT_EQ(differ, 0);
  EXPECT_EQ(m[127], 0.f);
  EXPECT_EQ(m[255], 1.f);
}

TEST(DynamicMap, IndexPicksANearestCode) {
  const float* code = kBnbDynamicSigned;
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  for (int i = 0; i < 20000; ++i) {
    // Spread over the exponents so the dense region near zero is exercised too.
    const float x = u(rng) * std::pow(10.f, -static_cast<float>(i % 7));
    const int q = dynamic_index(code, x);
    float best = std::numeric_limits<float>::infinity();
    for (int k = 0; k < 256; ++k) best = std::min(best, std::fabs(x - code[k]));
    ASSERT_LE(std::fabs(x - code[q]), best * (1 + 1e-6f) + 1e-12f) << "x = " << x << " q = " << q;
  }
}

TEST(DynamicMap, MidpointTiesFollowTheBinarySearch) {
  const float* code = kBnbDynamicSigned;
  // Between code[127] = 0 and code[128]: the search ends with pivot 128 and lower = code[127];
  // x equals (lower + val) * 0.5f, `x < midpoint` is false, so the pivot 128 (the upper) wins.
  const float mid_low = (code[127] + code[128]) * 0.5f;
  EXPECT_EQ(dynamic_index(code, mid_low), 128);
  // Between code[200] and code[201] the search's last pivot is 200 with x above it; there
  // `x > midpoint` is false at the tie, so 200 (the lower) wins. A plain argmin would pick the
  // lower code in both cases.
  const float mid_high = (code[200] + code[201]) * 0.5f;
  EXPECT_EQ(dynamic_index(code, mid_high), 200);
  EXPECT_EQ(dynamic_index(code, 1.f), 255);
  EXPECT_EQ(dynamic_index(code, -1.f), 0);
  // NaN (an all-zero block scaled by 1/0) falls through every comparison to index 0.
  EXPECT_EQ(dynamic_index(code, std::numeric_limits<float>::quiet_NaN()), 0);
}

}  // namespace
