// The self-contained HTML timeline of a simulated run (see simrun/testing/html_timeline.hpp).
// The page's stylesheet and script are in timeline_page.hpp.
#include "simrun/testing/html_timeline.hpp"

#include <filesystem>
#include <fstream>

#include "simrun/core/exceptions.hpp"
#include "simrun/testing/chrome_trace.hpp"

#include "timeline_page.hpp"

namespace simrun::testing {

namespace {

std::string html_escape(const std::string& text) {
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        switch (c) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '"':
                out += "&quot;";
                break;
            case '\'':
                out += "&#39;";
                break;
            default:
                out += c;
        }
    }
    return out;
}

/// JSON text made safe inside <script>: '<' only occurs inside JSON strings, where \u003c
/// means the same character, so "</script" and "<!--" cannot appear.
std::string script_safe(const std::string& json) {
    std::string out;
    out.reserve(json.size() + json.size() / 64);
    for (char c : json) {
        if (c == '<')
            out += "\\u003c";
        else
            out += c;
    }
    return out;
}

}  // namespace

std::string html_timeline(const sim::Trace& trace, const std::string& title,
                          const std::string& failure) {
    const std::vector<sim::TraceEntry> tail = trace.last(html_timeline_tail);
    std::string page;
    page += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
    page += "<title>" + html_escape(title) + " - simrun timeline</title>\n";
    page += "<style>";
    page += detail::timeline_css;
    page += "</style>\n</head>\n<body data-rendered=\"\">\n<header>\n<h1>" + html_escape(title) +
            "</h1>\n";
    if (!failure.empty())
        page += "<p id=\"failure\">failed: " + html_escape(failure) + "</p>\n";
    page += "<p id=\"summary\">" + std::to_string(trace.size()) + " trace entries</p>\n";
    page += detail::timeline_controls;
    page +=
        "</header>\n<main>\n<div id=\"timeline\"><canvas id=\"canvas\"></canvas>"
        "<div id=\"tooltip\" hidden></div></div>\n"
        "<noscript><p>The timeline needs JavaScript; the trace lines are below.</p>"
        "</noscript>\n";
    page +=
        "<section id=\"tracks\"><h2>Tracks</h2><table><thead><tr><th>track</th>"
        "<th>steps</th><th>first step</th><th>last step</th><th>loop events</th></tr>"
        "</thead><tbody></tbody></table></section>\n";
    page += "<section id=\"tail\"><h2>Last " + std::to_string(tail.size()) + " of " +
            std::to_string(trace.size()) + " trace entries</h2>\n<ol class=\"tail\" start=\"" +
            std::to_string(trace.size() - tail.size() + 1) + "\">\n";
    for (const sim::TraceEntry& entry : tail)
        page += "<li>" + html_escape(sim::Trace::format_entry(entry)) + "</li>\n";
    page += "</ol>\n</section>\n</main>\n";
    page += "<script type=\"application/json\" id=\"trace-data\">";
    page += script_safe(chrome_trace_json(trace, title));
    page += "</script>\n<script>";
    page += detail::timeline_js;
    page += "</script>\n</body>\n</html>\n";
    return page;
}

void write_html_timeline(const sim::Trace& trace, const std::string& path, const std::string& title,
                         const std::string& failure) {
    const std::filesystem::path file(path);
    std::error_code error;
    if (file.has_parent_path())
        std::filesystem::create_directories(file.parent_path(), error);
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out << html_timeline(trace, title, failure);
    out.close();
    if (!out)
        throw RuntimeError("cannot write the timeline to '" + path + "'");
}

}  // namespace simrun::testing
