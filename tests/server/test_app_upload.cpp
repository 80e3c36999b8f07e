// A streamed upload whose body fails (over the route's limit, bad chunked framing, too slow):
// the sink hears on_body_error() and gives up by dropping its writer, the usual idiom; the client
// must then get the status a buffered body would have got (413, 400, 408), not a plain 500.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <system_error>
#include <vector>

#include "taut/handler.hpp"
#include "taut/mux.hpp"
#include "taut/testing.hpp"

namespace {

using taut::reply;
using taut::request_context;
using taut::testing::client;
using taut::testing::request;

/// Owns its writer, answers at the body's end and deletes itself in either end call; on an error
/// it answers `error_status` itself when that is not 0, else drops the writer unanswered.
class upload_sink final : public taut::body_sink {
 public:
  upload_sink(reply& res, int error_status) : writer_(res.detach()), error_status_(error_status) {}
  void on_body_data(std::string_view piece) override { bytes_ += piece.size(); }
  void on_body_end(std::span<const taut::header>) override {
    writer_.send(200, std::to_string(bytes_) + " bytes", "text/plain");
    delete this;
  }
  void on_body_error(std::error_code) override {
    if (error_status_ != 0) writer_.send(error_status_, "my own answer\n", "text/plain");
    delete this;
  }

 private:
  taut::response_writer writer_;
  std::size_t bytes_ = 0;
  int error_status_;
};

taut::handler upload(int error_status) {
  return taut::handler([error_status](request_context& req, reply& res) {
           auto* sink = new upload_sink(res, error_status);
           if (!req.stream_body(*sink)) delete sink;
         })
      .streaming()
      .with_max_body(10);
}

TEST(AppUpload, DroppedWriterAnswersTheBodysOwnStatus) {
  taut::mux app;
  app.handle("POST /up", upload(0));
  client c(app);
  EXPECT_EQ(c.post("/up", "0123456789").body, "10 bytes");

  // Chunked, so the limit is found only while reading: 413, as for a buffered body.
  const auto big = c.send(request("POST", "/up").chunked({"0123456789", "x"}));
  EXPECT_EQ(big.status, 413);
  EXPECT_EQ(big.body, "413 Content Too Large\n");

  c.reconnect();
  c.write_raw(
      "POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nZZ\r\n");
  EXPECT_EQ(c.read().status, 400);

  c.reconnect();
  c.write_raw("POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 9\r\n\r\nabc");
  c.advance(std::chrono::seconds(31));  // past the 30 s body timeout
  EXPECT_EQ(c.read().status, 408);
  EXPECT_TRUE(c.closed());
}

TEST(AppUpload, ASinkThatAnswersItsErrorKeepsItsAnswer) {
  taut::mux app;
  app.handle("POST /up", upload(422));
  client c(app);
  const auto big = c.send(request("POST", "/up").chunked({"0123456789", "x"}));
  EXPECT_EQ(big.status, 422);
  EXPECT_EQ(big.body, "my own answer\n");
}

TEST(AppUpload, TheRefusalIsReportedWithItsReason) {
  taut::mux app;
  app.handle("POST /up", upload(0));
  std::vector<std::string> refused;
  taut::testing::server_options options;
  options.loop.on_error = [&](const taut::connection_info&, const taut::response_record& record) {
    refused.push_back(std::to_string(record.status) + " " +
                      std::to_string(record.error == std::errc::message_size));
  };
  client c(app, {}, options);
  EXPECT_EQ(c.send(request("POST", "/up").chunked({"0123456789", "x"})).status, 413);
  EXPECT_EQ(refused, std::vector<std::string>{"413 1"});
}

}  // namespace
