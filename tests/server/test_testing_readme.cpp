#include <gtest/gtest.h>

#include "taut/mux.hpp"
#include "taut/testing.hpp"

TEST(Hello, GreetsByName) {
  taut::mux app;
  app.handle("GET /hello/{name}", [](taut::request_context& req, taut::reply& res) {
    res.text(200, "Hello, " + std::string(req.param("name")) + "!");
  });
  taut::testing::client client(app);
  auto r = client.get("/hello/Ada%20Lovelace");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "Hello, Ada Lovelace!");
}
