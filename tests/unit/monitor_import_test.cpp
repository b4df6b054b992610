// Parsers of monitoring exports (nettrail import): each format on valid input,
// and every error path names the file and line. Inputs are written here.
#include "import/monitor_import.h"

#include <gtest/gtest.h>

#include <string>

namespace nettrail {
namespace {

constexpr int64_t kT0 = 1'700'000'000'000'000'000;  // 2023-11-14T22:13:20Z

MonitorParseOptions named(const std::string& file) {
  MonitorParseOptions options;
  options.file_name = file;
  return options;
}

MonitorData parseOk(std::string_view text, MonitorFormat format, MonitorParseOptions options = named("in.txt")) {
  auto data = parseMonitorText(text, format, options);
  EXPECT_TRUE(data.isOk()) << data.status().message();
  return data.isOk() ? *data : MonitorData{};
}

std::string parseError(std::string_view text, MonitorFormat format, MonitorParseOptions options = named("in.txt")) {
  auto data = parseMonitorText(text, format, options);
  EXPECT_FALSE(data.isOk());
  return data.isOk() ? std::string() : data.status().message();
}

TEST(MonitorTimestamp, EpochUnitsByMagnitudeAndRfc3339) {
  EXPECT_EQ(*parseTimestampNs("1700000000"), kT0);
  EXPECT_EQ(*parseTimestampNs("1700000000.123456"), kT0 + 123'456'000);
  EXPECT_EQ(*parseTimestampNs("1700000000123"), kT0 + 123'000'000);
  EXPECT_EQ(*parseTimestampNs("1700000000123456789"), kT0 + 123'456'789);
  EXPECT_EQ(*parseTimestampNs("2023-11-14T22:13:20Z"), kT0);
  EXPECT_EQ(*parseTimestampNs("2023-11-14T23:13:20.5+01:00"), kT0 + 500'000'000);
  EXPECT_FALSE(parseTimestampNs("2023-11-14T22:13:20").isOk());  // no zone
  EXPECT_EQ(*parseTimestampNs("2023-11-14 22:13:20", int64_t{0}), kT0);
  EXPECT_FALSE(parseTimestampNs("yesterday").isOk());
  EXPECT_FALSE(parseTimestampNs("").isOk());
  EXPECT_FALSE(parseTimestampNs("99999999999999999999999").isOk());
  EXPECT_EQ(*parseTzOffset("+02:00"), 7200);
  EXPECT_EQ(*parseTzOffset("-0530"), -19800);
  EXPECT_FALSE(parseTzOffset("Europe/Berlin").isOk());
}

TEST(MonitorPing, ParsesPingDWithRepliesTimeoutsAndUnreachable) {
  const std::string log =
      "PING 10.0.0.2 (10.0.0.2) 56(84) bytes of data.\n"
      "[1700000000.123456] 64 bytes from 10.0.0.2: icmp_seq=5 ttl=64 time=0.123 ms\n"
      "[1700000001.123456] no answer yet for icmp_seq=6\n"
      "[1700000002.5] From 10.0.0.1 icmp_seq=7 Destination Host Unreachable\r\n"
      "[1700000003] 64 bytes from gw (10.0.0.9): icmp_seq=8 ttl=64 time=250 ms\n"
      "\n--- 10.0.0.2 ping statistics ---\n"
      "8 packets transmitted, 6 received, 25% packet loss, time 7010ms\n"
      "rtt min/avg/max/mdev = 0.1/0.2/0.3/0.01 ms\n";
  MonitorData data = parseOk(log, MonitorFormat::kPing);
  ASSERT_EQ(data.probes.size(), 4u);
  EXPECT_EQ(data.probes[0].realtime_ns, kT0 + 123'456'000);
  EXPECT_EQ(data.probes[0].target, "10.0.0.2");
  EXPECT_EQ(*data.probes[0].seq, 5);
  EXPECT_DOUBLE_EQ(*data.probes[0].rtt_ms, 0.123);
  EXPECT_FALSE(data.probes[1].rtt_ms);
  EXPECT_EQ(*data.probes[1].seq, 6);
  EXPECT_EQ(data.probes[1].target, "10.0.0.2");
  EXPECT_FALSE(data.probes[2].rtt_ms);
  EXPECT_EQ(data.probes[3].target, "10.0.0.9");
  EXPECT_EQ(data.probes[3].line, 5);
}

TEST(MonitorPing, ParsesTheSimpleCsv) {
  MonitorData data = parseOk("timestamp,target,rtt_ms\n1700000000.5,db1,0.4\n2023-11-14T22:13:21Z,db1,timeout\n",
                             MonitorFormat::kPing);
  ASSERT_EQ(data.probes.size(), 2u);
  EXPECT_EQ(data.probes[0].realtime_ns, kT0 + 500'000'000);
  EXPECT_DOUBLE_EQ(*data.probes[0].rtt_ms, 0.4);
  EXPECT_FALSE(data.probes[1].rtt_ms);
  EXPECT_EQ(data.probes[1].realtime_ns, kT0 + 1'000'000'000);
}

TEST(MonitorPing, ErrorsNameFileAndLine) {
  std::string log;
  for (int i = 1; i < 17; ++i) log += "[1700000000.0] 64 bytes from 10.0.0.2: icmp_seq=" + std::to_string(i) + " ttl=64 time=1 ms\n";
  log += "[1700000001.0] 64 bytes from 10.0.0.2: icmp_sq=17 ttl=64 time=1 ms\n";
  EXPECT_EQ(parseError(log, MonitorFormat::kPing, named("pinglog.txt")).rfind("pinglog.txt:17: expected \"icmp_seq=N\", got \"64 bytes", 0), 0u)
      << parseError(log, MonitorFormat::kPing, named("pinglog.txt"));
  EXPECT_NE(parseError("[1700000000] 64 bytes from 10.0.0.2: icmp_seq=1 ttl=64\n", MonitorFormat::kPing)
                .find("in.txt:1: expected \"time=T ms\""),
            std::string::npos);
  EXPECT_NE(parseError("64 bytes from 10.0.0.2: icmp_seq=1 ttl=64 time=1 ms\n", MonitorFormat::kPing).find("ping -D"),
            std::string::npos);
  EXPECT_NE(parseError("[17000x0000] no answer yet for icmp_seq=3\n", MonitorFormat::kPing).find("in.txt:1: expected a timestamp"),
            std::string::npos);
  EXPECT_NE(parseError("[1700000000 no answer\n", MonitorFormat::kPing).find("in.txt:1:"), std::string::npos);
  EXPECT_NE(parseError("[1700000000] something else\n", MonitorFormat::kPing).find("in.txt:1: expected a ping reply"),
            std::string::npos);
  EXPECT_NE(parseError("1700000000,db1,fast\n", MonitorFormat::kPing).find("in.txt:1: expected an RTT"), std::string::npos);
  EXPECT_NE(parseError("1700000000,db1\n", MonitorFormat::kPing).find("in.txt:1:"), std::string::npos);
  EXPECT_NE(parseError("", MonitorFormat::kPing).find("no ping rows"), std::string::npos);
  EXPECT_NE(parseError(std::string("a\0b", 3), MonitorFormat::kPing).find("binary"), std::string::npos);
}

TEST(MonitorPidstat, ThreadRowsWithEpochTimes) {
  const std::string text =
      "Linux 6.1.0 (host-a) \t11/14/2023 \t_x86_64_\t(8 CPU)\n\n"
      "#      Time   UID      TGID       TID    %usr %system  %guest   %wait    %CPU   CPU  Command\n"
      " 1700000000     0       812         -   10.00    5.00    0.00    0.00   15.00     3  ovs-vswitchd\n"
      " 1700000000     0         -       813   90,00    7.00    0.00    0.00   97.00     3  |__handler1\n"
      " 1700000001     0         -       813    1.00    1.00    0.00    0.00    2.00     3  |__handler1\n";
  MonitorData data = parseOk(text, MonitorFormat::kPidstat);
  ASSERT_EQ(data.samples.size(), 15u);  // 3 rows x 5 % columns
  EXPECT_EQ(data.samples[4].series, "%CPU ovs-vswitchd pid=812");
  EXPECT_DOUBLE_EQ(*data.samples[4].value, 15.0);
  EXPECT_EQ(data.samples[5].series, "%usr handler1 tid=813");
  EXPECT_DOUBLE_EQ(*data.samples[5].value, 90.0);
  EXPECT_EQ(data.samples[9].series, "%CPU handler1 tid=813");
  EXPECT_EQ(data.samples[9].realtime_ns, kT0);
  EXPECT_EQ(data.samples[14].realtime_ns, kT0 + 1'000'000'000);
}

TEST(MonitorPidstat, LocalTimesNeedADateAndAZone) {
  const std::string text =
      "Linux 6.1.0 (host-a) \t11/14/2023 \t_x86_64_\t(8 CPU)\n\n"
      "11:59:59 PM   UID       PID    %usr %system  %guest   %wait    %CPU   CPU  Command\n"
      "11:59:59 PM     0       812   10.00    5.00    0.00    0.00   15.00     3  ovs-vswitchd\n"
      "12:00:00 AM     0       812   10.00    5.00    0.00    0.00   15.00     3  ovs-vswitchd\n"
      "Average:        0       812   10.00    5.00    0.00    0.00   15.00     -  ovs-vswitchd\n";
  EXPECT_NE(parseError(text, MonitorFormat::kPidstat).find("in.txt:4: local time \"11:59:59\" needs the monitor's time zone"),
            std::string::npos)
      << parseError(text, MonitorFormat::kPidstat);
  MonitorParseOptions options = named("in.txt");
  options.tz_offset_s = 3600;
  MonitorData data = parseOk(text, MonitorFormat::kPidstat, options);
  ASSERT_EQ(data.samples.size(), 10u);
  // 2023-11-14 23:59:59 at UTC+1 is 22:59:59Z; the next row rolls over to the 15th.
  EXPECT_EQ(data.samples[0].realtime_ns, kT0 + (46 * 60 + 39) * 1'000'000'000ll);
  EXPECT_EQ(data.samples[5].realtime_ns, data.samples[0].realtime_ns + 1'000'000'000);
  const std::string no_banner =
      "22:13:20     UID       PID    %CPU  Command\n22:13:20       0       812   15.00  ovs\n";
  EXPECT_NE(parseError(no_banner, MonitorFormat::kPidstat, options).find("in.txt:2: local time \"22:13:20\" with no date"),
            std::string::npos);
  options.date = "2023-11-14";
  options.tz_offset_s = 0;
  EXPECT_EQ(parseOk(no_banner, MonitorFormat::kPidstat, options).samples.at(0).realtime_ns, kT0);
}

TEST(MonitorPidstat, Errors) {
  EXPECT_NE(parseError("1700000000 0 812 1.0 ovs\n", MonitorFormat::kPidstat).find("in.txt:1: pidstat row before its header"),
            std::string::npos);
  const std::string header = "#  Time  UID  PID  %CPU  CPU  Command\n";
  EXPECT_NE(parseError(header + "1700000000 0 812 lots 1 ovs\n", MonitorFormat::kPidstat)
                .find("in.txt:2: expected a number in column %CPU, got \"lots\""),
            std::string::npos);
  EXPECT_NE(parseError(header + "1700000000 0 812\n", MonitorFormat::kPidstat).find("in.txt:2: pidstat row has 2 fields"),
            std::string::npos);
  EXPECT_NE(parseError("#  Time  UID  PID  CPU  Command\n", MonitorFormat::kPidstat).find("no %CPU-style column"),
            std::string::npos);
  EXPECT_NE(parseError("nothing here\n", MonitorFormat::kPidstat).find("in.txt:1:"), std::string::npos);
}

TEST(MonitorCsv, SeriesWithHeaderQuotesAndNan) {
  MonitorData data = parseOk("timestamp,series,value\n1700000000000,\"lat,ms\",12.5\n2023-11-14T22:13:21Z,q,NaN\n",
                             MonitorFormat::kCsv);
  ASSERT_EQ(data.samples.size(), 2u);
  EXPECT_EQ(data.samples[0].series, "lat,ms");
  EXPECT_EQ(data.samples[0].realtime_ns, kT0);
  EXPECT_FALSE(data.samples[1].value);
  EXPECT_NE(parseError("1700000000,a,1\n1700000001,a\n", MonitorFormat::kCsv).find("in.txt:2: expected \"timestamp,series,value\""),
            std::string::npos);
  EXPECT_NE(parseError("1700000000,a,x1\n", MonitorFormat::kCsv).find("in.txt:1: expected a number"), std::string::npos);
  EXPECT_NE(parseError("1700000000,\"a,1\n", MonitorFormat::kCsv).find("in.txt:1: unterminated"), std::string::npos);
  EXPECT_NE(parseError("1700000000,,1\n", MonitorFormat::kCsv).find("in.txt:1: empty series"), std::string::npos);
}

TEST(MonitorPrometheus, TextFormatWithTimestamps) {
  MonitorData data = parseOk(
      "# HELP node_load1 Load.\n# TYPE node_load1 gauge\n"
      "node_load1{instance=\"h:9100\",job=\"node\"} 3.5 1700000000000\n"
      "up{job=\"a\\\"b\"} 1 1700000001000\nrate_total NaN 1700000002000\n",
      MonitorFormat::kPrometheus);
  ASSERT_EQ(data.samples.size(), 3u);
  EXPECT_EQ(data.samples[0].series, "node_load1{instance=\"h:9100\",job=\"node\"}");
  EXPECT_EQ(data.samples[0].realtime_ns, kT0);
  EXPECT_EQ(data.samples[1].series, "up{job=\"a\\\"b\"}");
  EXPECT_FALSE(data.samples[2].value);
  EXPECT_NE(parseError("up 1\n", MonitorFormat::kPrometheus).find("in.txt:1: sample without a timestamp"),
            std::string::npos);
  EXPECT_NE(parseError("up{job=\"x} 1 1\n", MonitorFormat::kPrometheus).find("in.txt:1: unterminated label"),
            std::string::npos);
  EXPECT_NE(parseError("up{job} 1 1\n", MonitorFormat::kPrometheus).find("in.txt:1: expected label="),
            std::string::npos);
  EXPECT_NE(parseError("up one 1\n", MonitorFormat::kPrometheus).find("in.txt:1: expected a sample value"),
            std::string::npos);
  EXPECT_NE(parseError("{bad\n", MonitorFormat::kPrometheus).find("in.txt:1: JSON"), std::string::npos);
}

TEST(MonitorPrometheus, RangeQueryJson) {
  MonitorData data = parseOk(
      R"({"status":"success","data":{"resultType":"matrix","result":[
          {"metric":{"__name__":"cpu","mode":"user","cpu":"0"},"values":[[1700000000,"1.5"],[1700000000.5,"2"]]},
          {"metric":{},"values":[[1700000001,"NaN"]]}]}})",
      MonitorFormat::kPrometheus);
  ASSERT_EQ(data.samples.size(), 3u);
  EXPECT_EQ(data.samples[0].series, "cpu{cpu=\"0\",mode=\"user\"}");
  EXPECT_EQ(data.samples[1].realtime_ns, kT0 + 500'000'000);
  EXPECT_DOUBLE_EQ(*data.samples[1].value, 2.0);
  EXPECT_EQ(data.samples[2].series, "series");
  EXPECT_NE(parseError(R"({"data":{"result":[{"metric":{},"values":[[1700000000,1.5]]}]}})", MonitorFormat::kPrometheus)
                .find("in.txt: data.result[0].values[0]: expected [unix_seconds, \"value\"]"),
            std::string::npos);
  EXPECT_NE(parseError("{\"data\":\n{\"result\": [1,]}}", MonitorFormat::kPrometheus).find("in.txt:2: JSON: expected a value"),
            std::string::npos);
  EXPECT_NE(parseError(R"({"status":"error","data":{}})", MonitorFormat::kPrometheus).find("not success"),
            std::string::npos);
  EXPECT_NE(parseError(R"({"data":{"result":{}}})", MonitorFormat::kPrometheus).find("data.result: expected an array"),
            std::string::npos);
  std::string deep(200, '[');
  EXPECT_NE(parseError("{\"a\":" + deep, MonitorFormat::kPrometheus).find("nested too deeply"), std::string::npos);
}

}  // namespace
}  // namespace nettrail
