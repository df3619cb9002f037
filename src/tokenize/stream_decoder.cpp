// StreamDecoder over our tokenizers runs the same per-id decoder as decode() (exact by
// construction, O(1) per id). For any other Tokenizer implementation it falls back to decoding
// everything pushed so far and emitting what grew, holding back text that ends in U+FFFD.
#include "edgetune/tokenize/stream_decoder.h"

#include "decode.h"
#include "pipeline_tokenizer.h"

namespace et {

StreamDecoder::StreamDecoder(const Tokenizer& tokenizer, bool skip_special)
    : tok_(tokenizer), skip_special_(skip_special) {
  if (const auto* p = dynamic_cast<const tok::PipelineTokenizer*>(&tokenizer))
    stream_ = std::make_shared<tok::DecodeStream>(p->spec(), skip_special);
}

std::string StreamDecoder::push(int32_t id) {
  std::string out;
  if (stream_) {
    stream_->push(id, out);
    return out;
  }
  ids_.push_back(id);
  std::string text = tok_.decode(ids_, skip_special_);
  const bool incomplete = text.size() >= 3 && text.compare(text.size() - 3, 3, "\xEF\xBF\xBD") == 0;
  if (incomplete || text.size() <= emitted_.size() || text.compare(0, emitted_.size(), emitted_) != 0)
    return out;
  out = text.substr(emitted_.size());
  emitted_ = std::move(text);
  return out;
}

std::string StreamDecoder::flush() {
  std::string out;
  if (stream_) {
    stream_->finish(out);
    auto* p = dynamic_cast<const tok::PipelineTokenizer*>(&tok_);
    stream_ = std::make_shared<tok::DecodeStream>(p->spec(), skip_special_);
    return out;
  }
  std::string text = tok_.decode(ids_, skip_special_);
  if (text.size() > emitted_.size() && text.compare(0, emitted_.size(), emitted_) == 0)
    out = text.substr(emitted_.size());
  ids_.clear();
  emitted_.clear();
  return out;
}

}  // namespace et
