#include "taut/date_cache.hpp"

#include <string_view>

namespace taut {

namespace {

void put2(char* out, unsigned value) noexcept {
  out[0] = static_cast<char>('0' + value / 10);
  out[1] = static_cast<char>('0' + value % 10);
}

/// Days since 1970-01-01 to a proleptic Gregorian date, counting in 400-year eras that start on
/// March 1st so that the leap day is the last day of a year.
void civil_from_days(std::int64_t days, std::int64_t& year, unsigned& month,
                     unsigned& day) noexcept {
  days += 719468;  // days from 0000-03-01 to 1970-01-01
  const std::int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const auto day_of_era = static_cast<unsigned>(days - era * 146097);  // [0, 146096]
  const unsigned year_of_era =
      (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) /
      365;  // [0, 399]
  const unsigned day_of_year =
      day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
  const unsigned month_from_march = (5 * day_of_year + 2) / 153;  // [0, 11]
  day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
  month = month_from_march < 10 ? month_from_march + 3 : month_from_march - 9;
  year = static_cast<std::int64_t>(year_of_era) + era * 400 + (month <= 2 ? 1 : 0);
}

// The value of two digits at `text[at]`, or -1 when they are not digits.
int two_digits(std::string_view text, std::size_t at) noexcept {
  const char tens = text[at];
  const char ones = text[at + 1];
  if (tens < '0' || tens > '9' || ones < '0' || ones > '9') return -1;
  return (tens - '0') * 10 + (ones - '0');
}

// The index of the three-letter name in the names packed in `names`, or -1. Each name is
// compared as one number, not by a memcmp call a name: a proxy checks every Date it passes on.
int index_of(std::string_view name, std::string_view names) noexcept {
  const auto packed = [](const char* p) {
    return static_cast<unsigned>(static_cast<unsigned char>(p[0])) << 16 |
           static_cast<unsigned>(static_cast<unsigned char>(p[1])) << 8 |
           static_cast<unsigned>(static_cast<unsigned char>(p[2]));
  };
  if (name.size() != 3) return -1;
  const unsigned wanted = packed(name.data());
  for (std::size_t at = 0; at + 3 <= names.size(); at += 3) {
    if (packed(names.data() + at) == wanted) return static_cast<int>(at / 3);
  }
  return -1;
}

/// The inverse of civil_from_days: days since 1970-01-01 of a proleptic Gregorian date.
std::int64_t days_from_civil(std::int64_t year, unsigned month, unsigned day) noexcept {
  year -= month <= 2 ? 1 : 0;
  const std::int64_t era = (year >= 0 ? year : year - 399) / 400;
  const auto year_of_era = static_cast<unsigned>(year - era * 400);  // [0, 399]
  const unsigned day_of_year = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
  const unsigned day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
  return era * 146097 + static_cast<std::int64_t>(day_of_era) - 719468;
}

unsigned days_in_month(int year, int month) noexcept {
  if (month == 2) return (year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)) ? 29 : 28;
  return month == 4 || month == 6 || month == 9 || month == 11 ? 30 : 31;
}

}  // namespace

bool is_imf_fixdate(std::string_view text) noexcept {
  // day-name "," SP day SP month SP year SP hour ":" minute ":" second SP "GMT"
  if (text.size() != 29 || text.substr(3, 2) != ", " || text[7] != ' ' || text[11] != ' ' ||
      text[16] != ' ' || text[19] != ':' || text[22] != ':' || text.substr(25) != " GMT") {
    return false;
  }
  const int weekday = index_of(text.substr(0, 3), "ThuFriSatSunMonTueWed");  // from 1970-01-01
  const int month = index_of(text.substr(8, 3), "JanFebMarAprMayJunJulAugSepOctNovDec") + 1;
  const int day = two_digits(text, 5);
  const int century = two_digits(text, 12);
  const int year = two_digits(text, 14);
  const int hour = two_digits(text, 17);
  const int minute = two_digits(text, 20);
  const int second = two_digits(text, 23);
  if (weekday < 0 || month < 1 || century < 0 || year < 0 || hour < 0 || hour > 23 || minute < 0 ||
      minute > 59 || second < 0 || second > 60) {
    return false;
  }
  // UTC inserts a leap second only as the last second of a day, 23:59:60, so a 60 elsewhere is
  // no instant at all.
  if (second == 60 && (hour != 23 || minute != 59)) return false;
  const int full_year = century * 100 + year;
  if (day < 1 || static_cast<unsigned>(day) > days_in_month(full_year, month)) return false;
  // The day-name is redundant with the date; one that disagrees makes the date ambiguous.
  const std::int64_t days =
      days_from_civil(full_year, static_cast<unsigned>(month), static_cast<unsigned>(day));
  return ((days % 7) + 7) % 7 == weekday;
}

void date_cache::format(std::int64_t seconds, char* out) noexcept {
  static constexpr char weekdays[] = "ThuFriSatSunMonTueWed";  // 1970-01-01 was a Thursday
  static constexpr char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
  std::int64_t days = seconds / 86400;
  std::int64_t second_of_day = seconds % 86400;
  if (second_of_day < 0) {
    second_of_day += 86400;
    --days;
  }
  std::int64_t year = 0;
  unsigned month = 0;
  unsigned day = 0;
  civil_from_days(days, year, month, day);
  const auto weekday = static_cast<unsigned>(((days % 7) + 7) % 7);
  // IMF-fixdate = day-name "," SP date1 SP time-of-day SP GMT (RFC 9110 section 5.6.7)
  out[0] = weekdays[weekday * 3];
  out[1] = weekdays[weekday * 3 + 1];
  out[2] = weekdays[weekday * 3 + 2];
  out[3] = ',';
  out[4] = ' ';
  put2(out + 5, day);
  out[7] = ' ';
  out[8] = months[(month - 1) * 3];
  out[9] = months[(month - 1) * 3 + 1];
  out[10] = months[(month - 1) * 3 + 2];
  out[11] = ' ';
  // Years outside 0000-9999 cannot be written in four digits; clamp rather than overflow.
  const auto y = static_cast<unsigned>(year < 0 ? 0 : (year > 9999 ? 9999 : year));
  put2(out + 12, y / 100);
  put2(out + 14, y % 100);
  out[16] = ' ';
  const auto s = static_cast<unsigned>(second_of_day);
  put2(out + 17, s / 3600);
  out[19] = ':';
  put2(out + 20, s / 60 % 60);
  out[22] = ':';
  put2(out + 23, s % 60);
  out[25] = ' ';
  out[26] = 'G';
  out[27] = 'M';
  out[28] = 'T';
}

bool date_cache::update(std::chrono::system_clock::time_point now) noexcept {
  const std::int64_t second =
      std::chrono::floor<std::chrono::seconds>(now.time_since_epoch()).count();
  if (second == second_) return false;
  second_ = second;
  format(second, text_ + prefix_size);
  text_[line_size - 2] = '\r';
  text_[line_size - 1] = '\n';
  return true;
}

}  // namespace taut
